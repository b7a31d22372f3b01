// h2k::Error / std::exception -> JS Error with code, file, offset and hint properties.
#pragma once
#include <napi.h>

#include <cstdint>
#include <string>

#include "common/error.hpp"

namespace h2k::binding {

// A copy of an error that can cross from a worker thread back to the JS thread.
struct CapturedError {
  std::string code = "E_INTERNAL";
  std::string message;
  std::string file;
  int64_t offset = -1;
  std::string hint;

  static CapturedError from(const std::exception& e) {
    CapturedError c;
    c.message = e.what();
    if (auto* he = dynamic_cast<const h2k::Error*>(&e)) {
      c.code = he->code();
      c.file = he->file();
      c.offset = he->offset();
      c.hint = he->hint();
    }
    return c;
  }

  Napi::Error toJs(Napi::Env env) const {
    Napi::Error err = Napi::Error::New(env, message);
    err.Set("code", code);
    if (!file.empty()) err.Set("file", file);
    if (offset >= 0) err.Set("offset", Napi::Number::New(env, static_cast<double>(offset)));
    if (!hint.empty()) err.Set("hint", hint);
    return err;
  }
};

// Runs `fn` (returning a Napi::Value) on the JS thread; a C++ exception becomes a thrown JS error
// with its code, file, offset and hint.
template <typename F>
Napi::Value callOrThrowJs(Napi::Env env, F&& fn) {
  try {
    return fn();
  } catch (const Napi::Error& e) {  // already a JS error (an argument check): thrown as it is
    e.ThrowAsJavaScriptException();
    return env.Undefined();
  } catch (const std::exception& e) {
    CapturedError::from(e).toJs(env).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

// Argument checking helpers: throw a JS TypeError with E_INVALID_ARGUMENT.
[[noreturn]] inline void throwOptionType(const Napi::Object& o, const char* key, const char* type) {
  Napi::TypeError err = Napi::TypeError::New(o.Env(), std::string("option '") + key + "' must be " + type);
  err.Set("code", "E_INVALID_ARGUMENT");
  throw err;
}

inline std::string requireString(const Napi::Object& o, const char* key) {
  Napi::Value v = o.Get(key);
  if (!v.IsString()) throwOptionType(o, key, "a string");
  return v.As<Napi::String>().Utf8Value();
}

inline std::string optionalString(const Napi::Object& o, const char* key, const std::string& dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsString()) throwOptionType(o, key, "a string");
  return v.As<Napi::String>().Utf8Value();
}

inline double optionalNumber(const Napi::Object& o, const char* key, double dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  if (!v.IsNumber()) throwOptionType(o, key, "a number");
  return v.As<Napi::Number>().DoubleValue();
}

inline bool optionalBool(const Napi::Object& o, const char* key, bool dflt) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() || v.IsNull()) return dflt;
  return v.ToBoolean().Value();
}

// Argument `i` as a string, or E_INVALID_ARGUMENT naming `what`.
inline std::string stringArg(const Napi::CallbackInfo& info, size_t i, const char* what) {
  if (info.Length() <= i || !info[i].IsString()) throw Error(codes::kInvalidArgument, std::string(what) + " must be a string");
  return info[i].As<Napi::String>().Utf8Value();
}

}  // namespace h2k::binding
