// Each binding file registers its exports here; addon.cpp calls them all.
#pragma once
#include <napi.h>

namespace h2k::binding {
void InitImage(Napi::Env env, Napi::Object exports);
void InitConvert(Napi::Env env, Napi::Object exports);
void InitHash(Napi::Env env, Napi::Object exports);
void InitPath(Napi::Env env, Napi::Object exports);
void InitNotify(Napi::Env env, Napi::Object exports);
void InitFormats(Napi::Env env, Napi::Object exports);
}  // namespace h2k::binding
