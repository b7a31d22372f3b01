// Module entry point. Binding files convert types and errors and hold no logic of their own.
#include <napi.h>

#include "binding/registry.hpp"

static Napi::Object Init(Napi::Env env, Napi::Object exports) {
  h2k::binding::InitImage(env, exports);
  h2k::binding::InitConvert(env, exports);
  h2k::binding::InitHash(env, exports);
  h2k::binding::InitPath(env, exports);
  h2k::binding::InitNotify(env, exports);
  h2k::binding::InitFormats(env, exports);
  return exports;
}

NODE_API_MODULE(h2k_native, Init)
