// Hashing exports:
//   hashFile(path, algorithms, options?, onProgress?)    -> { promise, cancel() }
//   hashContent(path, algorithms, options?, onProgress?) -> { promise, cancel() }
//   createHasher(algorithms) -> { update(buffer), digest() }   (small in-memory data)
// File and content jobs run on a libuv thread (plus their read-ahead thread); progress is
// coalesced and delivered on the JS thread; cancel() flips an atomic polled per buffer.
#include <napi.h>

#include <atomic>
#include <memory>

#include "binding/js_error.hpp"
#include "binding/registry.hpp"
#include "hash/hash_job.hpp"
#include "hash/hasher.hpp"

namespace h2k::binding {
namespace {

enum class JobKind { File, Content };

std::vector<std::string> algorithmsFrom(const Napi::Value& v) {
  std::vector<std::string> out;
  if (v.IsString()) {
    out.push_back(v.As<Napi::String>().Utf8Value());
  } else if (v.IsArray()) {
    Napi::Array a = v.As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value item = a.Get(i);
      if (!item.IsString()) {
        Napi::TypeError err = Napi::TypeError::New(v.Env(), "hash algorithms must be strings");
        err.Set("code", "E_INVALID_ARGUMENT");
        throw err;
      }
      out.push_back(item.As<Napi::String>().Utf8Value());
    }
  } else {
    Napi::TypeError err = Napi::TypeError::New(v.Env(), "hash algorithms must be a string or an array of strings");
    err.Set("code", "E_INVALID_ARGUMENT");
    throw err;
  }
  return out;
}

Napi::Object digestsToJs(Napi::Env env, const std::map<std::string, std::string>& m) {
  Napi::Object o = Napi::Object::New(env);
  for (const auto& kv : m) o.Set(kv.first, kv.second);
  return o;
}

class HashWorker : public Napi::AsyncProgressWorker<HashProgress> {
 public:
  HashWorker(Napi::Env env, JobKind kind, std::vector<std::string> paths, std::vector<std::string> algorithms,
             HashJobOptions options, OpenOptions openOptions, Napi::Function onProgress,
             std::shared_ptr<std::atomic<bool>> cancel)
      : Napi::AsyncProgressWorker<HashProgress>(env),
        deferred_(Napi::Promise::Deferred::New(env)),
        kind_(kind),
        paths_(std::move(paths)),
        algorithms_(std::move(algorithms)),
        options_(options),
        openOptions_(std::move(openOptions)),
        cancel_(std::move(cancel)) {
    if (!onProgress.IsEmpty()) onProgress_ = Napi::Persistent(onProgress);
  }
  Napi::Promise promise() { return deferred_.Promise(); }

  void Execute(const ExecutionProgress& progress) override {
    try {
      HashProgressFn report;
      if (!onProgress_.IsEmpty()) report = [&progress](const HashProgress& p) { progress.Send(&p, 1); };
      result_ = kind_ == JobKind::File
                    ? hashFiles(paths_, algorithms_, options_, report, cancel_.get())
                    : hashContent(paths_.front(), algorithms_, openOptions_, options_, report, cancel_.get());
    } catch (const std::exception& e) {
      error_ = CapturedError::from(e);
      SetError(error_.message);
    }
  }

  void OnProgress(const HashProgress* p, size_t count) override {
    if (onProgress_.IsEmpty() || count == 0 || p == nullptr) return;
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("bytesDone", Napi::Number::New(env, static_cast<double>(p->bytesDone)));
    o.Set("bytesTotal", Napi::Number::New(env, static_cast<double>(p->bytesTotal)));
    onProgress_.Call({o});
  }

  void OnOK() override {
    Napi::Env env = Env();
    Napi::Object o = Napi::Object::New(env);
    o.Set("path", paths_.front());
    o.Set("digests", digestsToJs(env, result_.digests));
    o.Set("bytes", Napi::Number::New(env, static_cast<double>(result_.bytes)));
    o.Set("bytesRead", Napi::Number::New(env, static_cast<double>(result_.bytesRead)));
    o.Set("seconds", Napi::Number::New(env, result_.seconds));
    deferred_.Resolve(o);
  }
  void OnError(const Napi::Error&) override { deferred_.Reject(error_.toJs(Env()).Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  JobKind kind_;
  std::vector<std::string> paths_;  // File: one, or several hashed as one stream; Content: one
  std::vector<std::string> algorithms_;
  HashJobOptions options_;
  OpenOptions openOptions_;
  std::shared_ptr<std::atomic<bool>> cancel_;
  Napi::FunctionReference onProgress_;
  HashJobResult result_;
  CapturedError error_;
};

Napi::Value startJob(const Napi::CallbackInfo& info, JobKind kind) {
  Napi::Env env = info.Env();
  const char* usage = kind == JobKind::File ? "hashFile(path | paths[], algorithms, options?, onProgress?)"
                                            : "hashContent(path, algorithms, options?, onProgress?)";
  // hashFile also takes an array of paths: the files hashed one after another, as one stream.
  std::vector<std::string> paths;
  if (info.Length() >= 1 && info[0].IsString()) {
    paths.push_back(info[0].As<Napi::String>().Utf8Value());
  } else if (kind == JobKind::File && info.Length() >= 1 && info[0].IsArray()) {
    Napi::Array a = info[0].As<Napi::Array>();
    for (uint32_t i = 0; i < a.Length(); ++i) {
      Napi::Value v = a.Get(i);
      if (!v.IsString()) {
        paths.clear();
        break;
      }
      paths.push_back(v.As<Napi::String>().Utf8Value());
    }
  }
  if (info.Length() < 2 || paths.empty()) {
    Napi::TypeError err = Napi::TypeError::New(env, std::string(usage) + " needs a path and algorithms");
    err.Set("code", "E_INVALID_ARGUMENT");
    err.ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return callOrThrowJs(env, [&]() -> Napi::Value {
    std::vector<std::string> algorithms = algorithmsFrom(info[1]);
    HashSet validate(algorithms);  // unknown names fail here, synchronously
    if (algorithms.empty()) throw Error(codes::kInvalidArgument, "no hash algorithm given");
    HashJobOptions options;
    OpenOptions openOptions;
    if (info.Length() > 2 && info[2].IsObject()) {
      Napi::Object o = info[2].As<Napi::Object>();
      double bs = optionalNumber(o, "bufferSize", static_cast<double>(options.bufferSize));
      double bc = optionalNumber(o, "bufferCount", static_cast<double>(options.bufferCount));
      if (!(bs > 0) || !(bc > 0)) throw Error(codes::kInvalidArgument, "bufferSize and bufferCount must be positive");
      options.bufferSize = static_cast<size_t>(std::min(bs, 1e9));
      options.bufferCount = static_cast<size_t>(std::min(bc, 1e3));
      openOptions.allowExternalPaths = optionalBool(o, "allowExternalPaths", false);
      openOptions.format = optionalString(o, "format", "");
      openOptions.sourceRoot = optionalString(o, "sourceRoot", "");
    }
    Napi::Function onProgress;
    if (info.Length() > 3 && info[3].IsFunction()) onProgress = info[3].As<Napi::Function>();
    auto cancel = std::make_shared<std::atomic<bool>>(false);
    // node-addon-api workers delete themselves after completion; the queue owns this allocation.
    auto* worker = new HashWorker(env, kind, std::move(paths), std::move(algorithms), options,
                                  std::move(openOptions), onProgress, cancel);
    Napi::Object handle = Napi::Object::New(env);
    handle.Set("promise", worker->promise());
    handle.Set("cancel", Napi::Function::New(env, [cancel](const Napi::CallbackInfo&) { cancel->store(true); }));
    worker->Queue();
    return handle;
  });
}

Napi::Value HashFileJs(const Napi::CallbackInfo& info) { return startJob(info, JobKind::File); }
Napi::Value HashContentJs(const Napi::CallbackInfo& info) { return startJob(info, JobKind::Content); }

// Runs `use` on the bytes of a Buffer/Uint8Array first argument; a wrong argument or a native
// error becomes a JS exception with its code.
template <typename Use>
Napi::Value withBytes(const Napi::CallbackInfo& ci, const char* usage, Use use) {
  Napi::Env e = ci.Env();
  if (ci.Length() < 1 || !(ci[0].IsBuffer() || ci[0].IsTypedArray())) {
    Napi::TypeError err = Napi::TypeError::New(e, std::string(usage) + " needs a Buffer or Uint8Array");
    err.Set("code", "E_INVALID_ARGUMENT");
    err.ThrowAsJavaScriptException();
    return e.Undefined();
  }
  Napi::TypedArray ta = ci[0].As<Napi::TypedArray>();
  const auto* data = static_cast<const uint8_t*>(ta.ArrayBuffer().Data()) + ta.ByteOffset();
  try {
    use(data, ta.ByteLength());
  } catch (const std::exception& ex) {
    CapturedError::from(ex).toJs(e).ThrowAsJavaScriptException();
  }
  return e.Undefined();
}

// A streaming hasher for data already in memory; each update runs synchronously.
Napi::Value CreateHasherJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return callOrThrowJs(env, [&]() -> Napi::Value {
    if (info.Length() < 1) throw Error(codes::kInvalidArgument, "createHasher(algorithms) needs algorithms");
    std::vector<std::string> algorithms = algorithmsFrom(info[0]);
    if (algorithms.empty()) throw Error(codes::kInvalidArgument, "no hash algorithm given");
    auto hashes = std::make_shared<HashSet>(algorithms);
    Napi::Object o = Napi::Object::New(env);
    o.Set("update", Napi::Function::New(env, [hashes](const Napi::CallbackInfo& ci) -> Napi::Value {
            return withBytes(ci, "update(data)", [&](const uint8_t* data, size_t len) { hashes->update(data, len); });
          }));
    // Same bytes as update(), through the block-sum path the conversion engine uses (sums
    // computed here, then folded); for tests and for callers that hash KiB-aligned buffers.
    o.Set("updatePresummed", Napi::Function::New(env, [hashes](const Napi::CallbackInfo& ci) -> Napi::Value {
            return withBytes(ci, "updatePresummed(data)", [&](const uint8_t* data, size_t len) {
              std::vector<uint64_t> sums((len / kXxh3SumBlockBytes) * kXxh3SumWords);
              const bool summed = xxh3BlockSumsAvailable();
              if (summed) xxh3BlockSums(data, len / kXxh3SumBlockBytes, sums.data());
              hashes->updatePresummed(data, len, summed ? sums.data() : nullptr);
            });
          }));
    o.Set("updateZeros", Napi::Function::New(env, [hashes](const Napi::CallbackInfo& ci) -> Napi::Value {
            Napi::Env e = ci.Env();
            double n = ci.Length() > 0 && ci[0].IsNumber() ? ci[0].As<Napi::Number>().DoubleValue() : -1;
            if (!(n >= 0) || n > 9007199254740991.0 || n != static_cast<double>(static_cast<uint64_t>(n))) {
              Napi::TypeError err = Napi::TypeError::New(e, "updateZeros(length) needs a whole number of bytes");
              err.Set("code", "E_INVALID_ARGUMENT");
              err.ThrowAsJavaScriptException();
              return e.Undefined();
            }
            hashes->updateZeros(static_cast<uint64_t>(n));
            return e.Undefined();
          }));
    o.Set("digest", Napi::Function::New(env, [hashes](const Napi::CallbackInfo& ci) -> Napi::Value {
            return callOrThrowJs(ci.Env(), [&]() -> Napi::Value { return digestsToJs(ci.Env(), hashes->digests()); });
          }));
    return o;
  });
}

Napi::Value HashImplementationJs(const Napi::CallbackInfo& info) {
  Napi::Object o = Napi::Object::New(info.Env());
  o.Set("xxh3Isa", xxh3Isa());
  o.Set("xxh3ZeroRunFastPath", xxh3ZeroRunFastPath());
  o.Set("xxh3BlockSums", xxh3BlockSumsAvailable());
  return o;
}

}  // namespace

void InitHash(Napi::Env env, Napi::Object exports) {
  exports.Set("hashFile", Napi::Function::New(env, HashFileJs, "hashFile"));
  exports.Set("hashContent", Napi::Function::New(env, HashContentJs, "hashContent"));
  exports.Set("createHasher", Napi::Function::New(env, CreateHasherJs, "createHasher"));
  exports.Set("hashImplementation", Napi::Function::New(env, HashImplementationJs, "hashImplementation"));
}

}  // namespace h2k::binding
