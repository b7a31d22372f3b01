// notifySocketSend(address, message): io/notify_socket.hpp for src/service/systemd-notify.ts.
#include <napi.h>

#include "binding/js_error.hpp"
#include "binding/registry.hpp"
#include "io/notify_socket.hpp"

namespace h2k::binding {
namespace {

Napi::Value NotifySocketSendJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return callOrThrowJs(env, [&]() -> Napi::Value {
    if (info.Length() < 2 || !info[0].IsString() || !info[1].IsString())
      throw Error(codes::kInvalidArgument, "notifySocketSend(address, message) takes two strings");
    notifySocketSend(info[0].As<Napi::String>().Utf8Value(), info[1].As<Napi::String>().Utf8Value());
    return env.Undefined();
  });
}

}  // namespace

void InitNotify(Napi::Env env, Napi::Object exports) {
  exports.Set("notifySocketSend", Napi::Function::New(env, NotifySocketSendJs, "notifySocketSend"));
}

}  // namespace h2k::binding
