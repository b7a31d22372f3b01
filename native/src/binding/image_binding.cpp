// detectFormat(path), imageInfo(path, options) -> Promise<ImageInfo> and
// imageMap(path, options) -> Promise<{ virtualSize, runs }> (the reader's block status).
#include <napi.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "binding/js_error.hpp"
#include "binding/registry.hpp"
#include "formats/image_reader.hpp"

namespace h2k::binding {
namespace {

Napi::Object infoToJs(Napi::Env env, const ImageInfo& info) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("format", info.format);
  o.Set("subformat", info.subformat);
  o.Set("virtualSize", Napi::Number::New(env, static_cast<double>(info.virtualSize)));
  o.Set("fileBytes", Napi::Number::New(env, static_cast<double>(info.fileBytes)));
  o.Set("allocatedBytes", Napi::Number::New(env, static_cast<double>(info.allocatedBytes)));
  o.Set("compression", info.compression);
  Napi::Array extents = Napi::Array::New(env, info.extents.size());
  for (size_t i = 0; i < info.extents.size(); ++i) {
    const ExtentInfo& e = info.extents[i];
    Napi::Object x = Napi::Object::New(env);
    x.Set("access", e.access);
    x.Set("type", e.type);
    x.Set("file", e.file);
    x.Set("sizeBytes", Napi::Number::New(env, static_cast<double>(e.sizeBytes)));
    x.Set("fileOffset", Napi::Number::New(env, static_cast<double>(e.fileOffset)));
    extents.Set(static_cast<uint32_t>(i), x);
  }
  o.Set("extents", extents);
  Napi::Array files = Napi::Array::New(env, info.files.size());
  for (size_t i = 0; i < info.files.size(); ++i) files.Set(static_cast<uint32_t>(i), info.files[i]);
  o.Set("files", files);
  Napi::Object props = Napi::Object::New(env);
  for (const auto& kv : info.properties) props.Set(kv.first, kv.second);
  o.Set("properties", props);
  Napi::Array warnings = Napi::Array::New(env, info.warnings.size());
  for (size_t i = 0; i < info.warnings.size(); ++i) warnings.Set(static_cast<uint32_t>(i), info.warnings[i]);
  o.Set("warnings", warnings);
  return o;
}

OpenOptions openOptionsFrom(const Napi::Value& v) {
  OpenOptions opts;
  if (v.IsObject()) {
    Napi::Object o = v.As<Napi::Object>();
    opts.allowExternalPaths = optionalBool(o, "allowExternalPaths", false);
    opts.format = optionalString(o, "format", "");
    opts.deferDigestChecks = optionalBool(o, "deferDigestChecks", false);
    opts.sourceRoot = optionalString(o, "sourceRoot", "");
  }
  return opts;
}

class InfoWorker : public Napi::AsyncWorker {
 public:
  InfoWorker(Napi::Env env, std::string path, OpenOptions opts)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)),
        opts_(std::move(opts)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      info_ = openImage(path_, opts_)->info();
    } catch (const std::exception& e) {
      error_ = CapturedError::from(e);
      SetError(error_.message);
    }
  }
  void OnOK() override { deferred_.Resolve(infoToJs(Env(), info_)); }
  void OnError(const Napi::Error&) override { deferred_.Reject(error_.toJs(Env()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  OpenOptions opts_;
  ImageInfo info_;
  CapturedError error_;
};

Napi::Value ImageInfoJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "imageInfo(path, options?) needs a path").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new InfoWorker(env, info[0].As<Napi::String>().Utf8Value(),  // owned by libuv queue
                                openOptionsFrom(info.Length() > 1 ? info[1] : env.Undefined()));
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

// The allocation map `h2k measure` counts from: the reader's own block status, adjacent runs
// of one kind merged so a 2 TB sparse disk is a few entries, not one per grain.
struct MapResult {
  uint64_t virtualSize = 0;
  std::vector<BlockStatus> runs;
};

const char* kindName(BlockKind k) {
  switch (k) {
    case BlockKind::Data: return "data";
    case BlockKind::Zero: return "zero";
    case BlockKind::Hole: return "hole";
  }
  return "data";
}

class MapWorker : public Napi::AsyncWorker {
 public:
  MapWorker(Napi::Env env, std::string path, OpenOptions opts)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)),
        opts_(std::move(opts)) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      std::unique_ptr<ImageReader> reader = openImage(path_, opts_);
      const uint64_t size = reader->virtualSize();
      result_.virtualSize = size;
      for (uint64_t off = 0; off < size;) {
        BlockStatus st = reader->blockStatus(off, size - off);
        if (st.length == 0) throw std::runtime_error("block status returned an empty run at offset " + std::to_string(off));
        st.offset = off;
        st.length = std::min(st.length, size - off);
        if (!result_.runs.empty() && result_.runs.back().kind == st.kind)
          result_.runs.back().length += st.length;
        else
          result_.runs.push_back(st);
        off += st.length;
      }
    } catch (const std::exception& e) {
      error_ = CapturedError::from(e);
      SetError(error_.message);
    }
  }
  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("virtualSize", Napi::Number::New(env, static_cast<double>(result_.virtualSize)));
    Napi::Array runs = Napi::Array::New(env, result_.runs.size());
    for (size_t i = 0; i < result_.runs.size(); ++i) {
      Napi::Object r = Napi::Object::New(env);
      r.Set("offset", Napi::Number::New(env, static_cast<double>(result_.runs[i].offset)));
      r.Set("length", Napi::Number::New(env, static_cast<double>(result_.runs[i].length)));
      r.Set("kind", kindName(result_.runs[i].kind));
      runs.Set(static_cast<uint32_t>(i), r);
    }
    o.Set("runs", runs);
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error&) override { deferred_.Reject(error_.toJs(Env()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  OpenOptions opts_;
  MapResult result_;
  CapturedError error_;
};

Napi::Value ImageMapJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "imageMap(path, options?) needs a path").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new MapWorker(env, info[0].As<Napi::String>().Utf8Value(),  // owned by libuv queue
                               openOptionsFrom(info.Length() > 1 ? info[1] : env.Undefined()));
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

Napi::Value DetectFormatJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "detectFormat(path) needs a path").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  try {
    OpenOptions opts = info.Length() > 1 ? openOptionsFrom(info[1]) : OpenOptions{};
    return Napi::String::New(env, detectSourceFormat(info[0].As<Napi::String>().Utf8Value(), opts));
  } catch (const std::exception& e) {
    CapturedError::from(e).toJs(env).ThrowAsJavaScriptException();
    return env.Undefined();
  }
}

}  // namespace

void InitImage(Napi::Env env, Napi::Object exports) {
  exports.Set("imageInfo", Napi::Function::New(env, ImageInfoJs, "imageInfo"));
  exports.Set("imageMap", Napi::Function::New(env, ImageMapJs, "imageMap"));
  exports.Set("detectFormat", Napi::Function::New(env, DetectFormatJs, "detectFormat"));
}

}  // namespace h2k::binding
