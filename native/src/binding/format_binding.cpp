// formats() -> the format table (formats/format_registry.hpp), from which every TypeScript list
// of formats derives (src/native/formats.ts); contentFormat(path) -> the format a file's bytes
// are (no name check); formatNamedBy(path) -> the format its name promises; and the container
// operations TypeScript needs, so it parses no format itself: ovaMembers(path)
// (formats/ova/tar_index.hpp), parseManifest(text, source) (.mf lines, formats/ova/manifest.hpp),
// vmdkRole(fd, path) (which files a VMDK is or needs, formats/vmdk/vmdk_role.hpp).
#include <unistd.h>

#include <cerrno>

#include <napi.h>

#include "binding/js_error.hpp"
#include "binding/registry.hpp"
#include "formats/format_registry.hpp"
#include "formats/ova/manifest.hpp"
#include "formats/ova/tar_index.hpp"
#include "formats/vmdk/vmdk_role.hpp"

namespace h2k::binding {
namespace {

// An array of one JS value per item of `items`.
template <class Items, class ToJs>
Napi::Array arrayOf(Napi::Env env, const Items& items, ToJs toJs) {
  Napi::Array a = Napi::Array::New(env, items.size());
  uint32_t i = 0;
  for (const auto& item : items) a.Set(i++, toJs(item));
  return a;
}

Napi::Value FormatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto strings = [env](const std::vector<std::string>& v) {
    return arrayOf(env, v, [env](const std::string& s) { return Napi::String::New(env, s); });
  };
  return arrayOf(env, formats(), [&](const Format& f) {
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", f.name);
    o.Set("extensions", strings(f.extensions));
    o.Set("roles", strings(f.roles));
    o.Set("probed", f.probe != nullptr);
    o.Set("readable", isReadable(f));
    o.Set("writable", isWritable(f));
    return o;
  });
}

Napi::Value ContentFormatJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return callOrThrowJs(env, [&]() -> Napi::Value {
    const Format* f = probeFormat(FileView(stringArg(info, 0, "path")));
    return Napi::String::New(env, f ? f->name : "raw");
  });
}

Napi::Value FormatNamedByJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return callOrThrowJs(env, [&]() -> Napi::Value {
    const Format* f = formatNamedBy(stringArg(info, 0, "path"));
    return Napi::String::New(env, f ? f->name : "");
  });
}

Napi::Value OvaMembersJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return callOrThrowJs(env, [&]() -> Napi::Value {
    return arrayOf(env, listTarMembers(FileView(stringArg(info, 0, "path"))), [env](const TarMember& m) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", m.name);
      o.Set("offset", static_cast<double>(m.offset));
      o.Set("size", static_cast<double>(m.size));
      return o;
    });
  });
}

Napi::Value ParseManifestJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return callOrThrowJs(env, [&]() -> Napi::Value {
    auto lines = parseManifest(stringArg(info, 0, "text"), stringArg(info, 1, "source"));
    return arrayOf(env, lines, [env](const auto& line) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", line.first);
      o.Set("algorithm", line.second.algorithm);
      o.Set("hex", line.second.hex);
      return o;
    });
  });
}

// Reads through a descriptor the caller opened (the daemon opens drops with its own checks: no
// links, no FIFOs, the file it stat'ed); a duplicate of it, so the caller keeps its own.
Napi::Value VmdkRoleJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return callOrThrowJs(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsNumber()) throw Error(codes::kInvalidArgument, "fd must be a number");
    const std::string path = stringArg(info, 1, "path");
    const int fd = ::dup(info[0].As<Napi::Number>().Int32Value());
    if (fd < 0) throwErrno(errno, "cannot read", path);
    const VmdkRole role = vmdkRole(FileView(File::adopt(fd, path)));
    Napi::Object o = Napi::Object::New(env);
    o.Set("kind", role.kind);
    o.Set("extents", arrayOf(env, role.extents, [env](const std::string& s) { return Napi::String::New(env, s); }));
    return o;
  });
}

}  // namespace

void InitFormats(Napi::Env env, Napi::Object exports) {
  using Fn = Napi::Value (*)(const Napi::CallbackInfo&);
  const std::pair<const char*, Fn> fns[] = {
      {"formats", FormatsJs},       {"contentFormat", ContentFormatJs}, {"formatNamedBy", FormatNamedByJs},
      {"ovaMembers", OvaMembersJs}, {"parseManifest", ParseManifestJs}, {"vmdkRole", VmdkRoleJs}};
  for (const auto& [name, fn] : fns) exports.Set(name, Napi::Function::New(env, fn, name));
}

}  // namespace h2k::binding
