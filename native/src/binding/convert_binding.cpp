// convert(request, onProgress?) -> { promise, cancel() }: the conversion runs on a libuv thread;
// progress is coalesced (latest value wins) and delivered on the JS thread; cancel() flips an
// atomic the engine polls between clusters. For one-shot CLI commands on the main thread.
// convertSync(request, shared) -> outcome: the conversion runs on the calling thread (a pool
// worker); progress and cancellation go through `shared`, a BigInt64Array over a SharedArrayBuffer
// (layout below) the
// main thread reads and writes with Atomics. Errors come back as data ({ok:false, error}), so a
// native error becomes a coded JS error once, on the thread that asked for the conversion.
#include <napi.h>

#include <atomic>
#include <cstdint>
#include <memory>

#include "binding/js_error.hpp"
#include "binding/registry.hpp"
#include "io/file.hpp"  // setPlainFilesOnly
#include "engine/convert.hpp"
#include "engine/convert_verified.hpp"  // --hash in the same pass, --verify after it

namespace h2k::binding {
namespace {

ConvertRequest requestFrom(const Napi::Object& o) {
  ConvertRequest r;
  r.source = requireString(o, "source");
  r.output = requireString(o, "output");
  r.outputFormat = optionalString(o, "outputFormat", "qcow2");
  r.compression = optionalString(o, "compression", "none");
  r.clusterSize = static_cast<uint32_t>(optionalNumber(o, "clusterSize", 65536));
  r.threads = static_cast<int>(optionalNumber(o, "threads", 0));
  r.force = optionalBool(o, "force", false);
  r.allowExternalPaths = optionalBool(o, "allowExternalPaths", false);
  r.sourceFormat = optionalString(o, "sourceFormat", "");
  r.sourceRoot = optionalString(o, "sourceRoot", "");
  r.verify = optionalBool(o, "verify", false);
  r.cache = optionalString(o, "cache", "none");
  Napi::Value algos = o.Get("hashAlgorithms");
  if (algos.IsArray()) {
    Napi::Array a = algos.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) r.hashAlgorithms.push_back(a.Get(i).ToString().Utf8Value());
  }
  return r;
}

Napi::Object hashesToJs(Napi::Env env, const std::map<std::string, std::string>& m) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& kv : m) o.Set(kv.first, kv.second);
  return o;
}

Napi::Object resultToJs(Napi::Env env, const ConvertRequest& req, const ConvertResult& r) {
  auto num = [&](uint64_t v) { return Napi::Number::New(env, static_cast<double>(v)); };
  Napi::Object o = Napi::Object::New(env);
  o.Set("source", req.source);
  o.Set("output", r.output.empty() ? req.output : r.output);
  o.Set("sourceFormat", r.sourceFormat);
  o.Set("sourceSubformat", r.sourceSubformat);
  o.Set("outputFormat", r.outputFormat.empty() ? req.outputFormat : r.outputFormat);
  o.Set("compression", r.compression.empty() ? req.compression : r.compression);
  o.Set("virtualSize", num(r.virtualSize));
  o.Set("dataBytes", num(r.dataBytes));
  o.Set("zeroBytes", num(r.zeroBytes));
  o.Set("outputBytes", num(r.outputBytes));
  o.Set("clustersWritten", num(r.clustersWritten));
  o.Set("clustersCompressed", num(r.clustersCompressed));
  o.Set("seconds", Napi::Number::New(env, r.seconds));
  o.Set("sourceHashes", hashesToJs(env, r.sourceHashes));
  o.Set("contentHashes", hashesToJs(env, r.contentHashes));
  o.Set("sourceBytesReread", num(r.sourceBytesReread));
  Napi::Array files = Napi::Array::New(env, r.sourceFiles.size());
  for (size_t i = 0; i < r.sourceFiles.size(); ++i) {
    Napi::Object f = Napi::Object::New(env);
    f.Set("path", r.sourceFiles[i].path);
    f.Set("hashes", hashesToJs(env, r.sourceFiles[i].hashes));
    f.Set("bytesReread", num(r.sourceFiles[i].bytesReread));
    files.Set(static_cast<uint32_t>(i), f);
  }
  o.Set("sourceFiles", files);
  o.Set("verified", Napi::Boolean::New(env, r.verified));
  o.Set("verifySeconds", Napi::Number::New(env, r.verifySeconds));
  return o;
}

class ConvertWorker : public Napi::AsyncProgressWorker<ConvertProgress> {
 public:
  ConvertWorker(Napi::Env env, ConvertRequest req, Napi::Function onProgress,
                std::shared_ptr<std::atomic<bool>> cancel)
      : Napi::AsyncProgressWorker<ConvertProgress>(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        req_(std::move(req)),
        cancel_(std::move(cancel)) {
    if (!onProgress.IsEmpty()) onProgress_ = Napi::Persistent(onProgress);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    try {
      result_ = convertImageChecked(
          req_, [&progress](const ConvertProgress& p) { progress.Send(&p, 1); }, cancel_.get());
    } catch (const std::exception& e) {
      error_ = CapturedError::from(e);
      SetError(error_.message);
    }
  }

  void OnProgress(const ConvertProgress* p, size_t count) override {
    if (onProgress_.IsEmpty() || count == 0 || p == nullptr) return;
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytesDone", Napi::Number::New(env, static_cast<double>(p->bytesDone)));
    o.Set("bytesTotal", Napi::Number::New(env, static_cast<double>(p->bytesTotal)));
    o.Set("dataBytes", Napi::Number::New(env, static_cast<double>(p->dataBytes)));
    o.Set("phase", p->verifying ? "verify" : "convert");
    onProgress_.Call({o});
  }

  void OnOK() override { deferred_.Resolve(resultToJs(Env(), req_, result_)); }
  void OnError(const Napi::Error&) override { deferred_.Reject(error_.toJs(Env()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  ConvertRequest req_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  Napi::FunctionReference onProgress_;
  ConvertResult result_;
  CapturedError error_;
};

// The shared-memory layout of convertSync (src/pool/shared-progress.ts mirrors it): four BigInt64
// slots (bytes done, bytes total, data bytes, phase 0 convert / 1 verify), then the cancel byte the
// engine polls as its std::atomic<bool>.
constexpr size_t kSlots = 4;
constexpr size_t kCancelOffset = kSlots * sizeof(int64_t);
constexpr size_t kSharedBytes = kCancelOffset + sizeof(int64_t);  // cancel: the fifth slot's first byte
static_assert(sizeof(std::atomic<int64_t>) == sizeof(int64_t) && std::atomic<int64_t>::is_always_lock_free);
static_assert(sizeof(std::atomic<bool>) == 1 && std::atomic<bool>::is_always_lock_free);

Napi::Object errorOutcome(Napi::Env env, const CapturedError& e) {
  Napi::Object err = Napi::Object::New(env);
  err.Set("code", e.code);
  err.Set("message", e.message);
  if (!e.file.empty()) err.Set("file", e.file);
  if (e.offset >= 0) err.Set("offset", Napi::Number::New(env, static_cast<double>(e.offset)));
  if (!e.hint.empty()) err.Set("hint", e.hint);
  Napi::Object o = Napi::Object::New(env);
  o.Set("ok", false);
  o.Set("error", err);
  return o;
}

Napi::Value ConvertSyncJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  // A typed array over the SharedArrayBuffer: Node-API 8 reads a typed array's memory whatever
  // buffer backs it, but has no accessor for a SharedArrayBuffer itself.
  void* data = nullptr;
  size_t length = 0;
  napi_typedarray_type type{};
  if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsTypedArray() ||
      napi_get_typedarray_info(env, info[1], &type, &length, &data, nullptr, nullptr) != napi_ok ||
      type != napi_bigint64_array || length * sizeof(int64_t) < kSharedBytes) {
    Napi::TypeError::New(env, "convertSync(request, shared) needs a request object and a BigInt64Array of 5 slots")
        .ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ConvertRequest req = requestFrom(info[0].As<Napi::Object>());
  // Lives as long as this call: the caller keeps the shared memory until the outcome is back.
  auto* base = static_cast<uint8_t*>(data);
  auto* slots = reinterpret_cast<std::atomic<int64_t>*>(base);
  const auto* cancel = reinterpret_cast<const std::atomic<bool>*>(base + kCancelOffset);
  auto publish = [slots](const ConvertProgress& p) {
    slots[0].store(static_cast<int64_t>(p.bytesDone), std::memory_order_relaxed);
    slots[1].store(static_cast<int64_t>(p.bytesTotal), std::memory_order_relaxed);
    slots[2].store(static_cast<int64_t>(p.dataBytes), std::memory_order_relaxed);
    slots[3].store(p.verifying ? 1 : 0, std::memory_order_release);
  };
  try {
    ConvertResult result = convertImageChecked(req, publish, cancel);
    Napi::Object o = Napi::Object::New(env);
    o.Set("ok", true);
    o.Set("value", resultToJs(env, req, result));
    return o;
  } catch (const std::exception& e) {
    return errorOutcome(env, CapturedError::from(e));
  }
}

Napi::Value ConvertJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) {
    Napi::TypeError::New(env, "convert(request, onProgress?) needs a request object").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  ConvertRequest req = requestFrom(info[0].As<Napi::Object>());
  Napi::Function onProgress;
  if (info.Length() > 1 && info[1].IsFunction()) onProgress = info[1].As<Napi::Function>();
  auto cancel = std::make_shared<std::atomic<bool>>(false);
  // node-addon-api workers delete themselves after completion; the queue owns this allocation.
  auto* worker = new ConvertWorker(env, std::move(req), onProgress, cancel);
  Napi::Object handle = Napi::Object::New(env);
  handle.Set("promise", worker->promise());
  handle.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo&) { cancel->store(true); }));
  worker->Queue();
  return handle;
}

}  // namespace

void InitConvert(Napi::Env env, Napi::Object exports) {
  exports.Set("convert", Napi::Function::New(env, ConvertJs, "convert"));
  exports.Set("convertSync", Napi::Function::New(env, ConvertSyncJs, "convertSync"));
  Napi::Array notAboutSource = Napi::Array::New(env);
  for (const char* code : codes::kNotAboutTheSource) notAboutSource.Set(notAboutSource.Length(), code);
  exports.Set("codesNotAboutTheSource", notAboutSource);
  exports.Set("setPlainFilesOnly", Napi::Function::New(env, [](const Napi::CallbackInfo& info) {
    setPlainFilesOnly(info.Length() > 0 && info[0].ToBoolean().Value());
  }, "setPlainFilesOnly"));
}

}  // namespace h2k::binding
