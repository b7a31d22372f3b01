// detectFormat(path), imageInfo(path, options) -> Promise<ImageInfo> and
// imageMap(path, options) -> Promise<{ virtualSize, runs }> (the reader's block status).
#include <napi.h>

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "binding/js_error.hpp"
#include "binding/registry.hpp"
#include "formats/allocation_runs.hpp"
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

// Opens an image on a libuv thread, computes a Result from its reader there, and settles a
// promise with it (converted on the JS thread): imageInfo and imageMap differ only in those two.
template <typename Result>
class ReaderWorker : public Napi::AsyncWorker {
 public:
  using Compute = Result (*)(ImageReader&);
  using ToJs = Napi::Value (*)(Napi::Env, const Result&);
  ReaderWorker(Napi::Env env, std::string path, OpenOptions opts, Compute compute, ToJs toJs)
      : Napi::AsyncWorker(env), deferred_(Napi::Promise::Deferred::New(env)), path_(std::move(path)),
        opts_(std::move(opts)), compute_(compute), toJs_(toJs) {}
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute() override {
    try {
      result_ = compute_(*openImage(path_, opts_));
    } catch (const std::exception& e) {
      error_ = CapturedError::from(e);
      SetError(error_.message);
    }
  }
  void OnOK() override { deferred_.Resolve(toJs_(Env(), result_)); }
  void OnError(const Napi::Error&) override { deferred_.Reject(error_.toJs(Env()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::string path_;
  OpenOptions opts_;
  Compute compute_;
  ToJs toJs_;
  Result result_{};
  CapturedError error_;
};

template <typename Result>
Napi::Value queueReaderWork(const Napi::CallbackInfo& info, const char* usage, typename ReaderWorker<Result>::Compute compute,
                            typename ReaderWorker<Result>::ToJs toJs) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, std::string(usage) + " needs a path").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto* worker = new ReaderWorker<Result>(env, info[0].As<Napi::String>().Utf8Value(),  // owned by libuv queue
                                          openOptionsFrom(info.Length() > 1 ? info[1] : env.Undefined()), compute, toJs);
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

// imageMap: the reader's allocation runs (formats/allocation_runs.hpp), what `h2k measure` counts.
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

Napi::Value mapToJs(Napi::Env env, const MapResult& result) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("virtualSize", Napi::Number::New(env, static_cast<double>(result.virtualSize)));
  Napi::Array runs = Napi::Array::New(env, result.runs.size());
  for (size_t i = 0; i < result.runs.size(); ++i) {
    Napi::Object r = Napi::Object::New(env);
    r.Set("offset", Napi::Number::New(env, static_cast<double>(result.runs[i].offset)));
    r.Set("length", Napi::Number::New(env, static_cast<double>(result.runs[i].length)));
    r.Set("kind", kindName(result.runs[i].kind));
    runs.Set(static_cast<uint32_t>(i), r);
  }
  o.Set("runs", runs);
  return o;
}

Napi::Value ImageInfoJs(const Napi::CallbackInfo& info) {
  return queueReaderWork<ImageInfo>(
      info, "imageInfo(path, options?)", [](ImageReader& r) { return r.info(); },
      [](Napi::Env env, const ImageInfo& i) -> Napi::Value { return infoToJs(env, i); });
}

Napi::Value ImageMapJs(const Napi::CallbackInfo& info) {
  return queueReaderWork<MapResult>(
      info, "imageMap(path, options?)", [](ImageReader& r) { return MapResult{r.virtualSize(), allocationRuns(r)}; }, mapToJs);
}

Napi::Value DetectFormatJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsString()) {
    Napi::TypeError::New(env, "detectFormat(path) needs a path").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return callOrThrowJs(env, [&]() -> Napi::Value {
    OpenOptions opts = info.Length() > 1 ? openOptionsFrom(info[1]) : OpenOptions{};
    return Napi::String::New(env, detectSourceFormat(info[0].As<Napi::String>().Utf8Value(), opts));
  });
}

}  // namespace

void InitImage(Napi::Env env, Napi::Object exports) {
  exports.Set("imageInfo", Napi::Function::New(env, ImageInfoJs, "imageInfo"));
  exports.Set("imageMap", Napi::Function::New(env, ImageMapJs, "imageMap"));
  exports.Set("detectFormat", Napi::Function::New(env, DetectFormatJs, "detectFormat"));
}

}  // namespace h2k::binding
