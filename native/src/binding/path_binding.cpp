// openBeneath(dir, name, referencedFrom) -> fd and checkContainedName(name, referencedFrom):
// io/open_beneath.hpp for the TypeScript side (a loose OVF's .mf digests, watch-folder drops),
// so TypeScript has no path rules of its own.
#include <napi.h>

#include "binding/js_error.hpp"
#include "binding/registry.hpp"
#include "io/open_beneath.hpp"

namespace h2k::binding {
namespace {

Napi::Value OpenBeneathJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return callOrThrowJs(env, [&]() -> Napi::Value {
    File f = openBeneath(stringArg(info, 0, "dir"), stringArg(info, 1, "name"), stringArg(info, 2, "referencedFrom"));
    // The caller owns the descriptor from here on (fs.closeSync / a stream with autoClose).
    return Napi::Number::New(env, f.release());
  });
}

Napi::Value CheckContainedNameJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return callOrThrowJs(env, [&]() -> Napi::Value {
    checkContainedName(stringArg(info, 0, "name"), stringArg(info, 1, "referencedFrom"));
    return env.Undefined();
  });
}

}  // namespace

void InitPath(Napi::Env env, Napi::Object exports) {
  exports.Set("openBeneath", Napi::Function::New(env, OpenBeneathJs, "openBeneath"));
  exports.Set("checkContainedName", Napi::Function::New(env, CheckContainedNameJs, "checkContainedName"));
}

}  // namespace h2k::binding
