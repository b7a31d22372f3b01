// formats() -> the format table (formats/format_registry.hpp), from which every TypeScript list
// of formats derives (src/native/formats.ts), and ovaMembers(path) -> the regular-file members
// of a tar archive (formats/ova/tar_index.hpp), so TypeScript parses no tar headers.
#include <napi.h>

#include "binding/js_error.hpp"
#include "binding/registry.hpp"
#include "formats/format_registry.hpp"
#include "formats/ova/tar_index.hpp"

namespace h2k::binding {
namespace {

Napi::Array strings(Napi::Env env, const std::vector<std::string>& v) {
  Napi::Array a = Napi::Array::New(env, v.size());
  for (size_t i = 0; i < v.size(); ++i) a.Set(i, v[i]);
  return a;
}

Napi::Value FormatsJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  const auto& rows = formats();
  Napi::Array out = Napi::Array::New(env, rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const Format& f = rows[i];
    Napi::Object o = Napi::Object::New(env);
    o.Set("name", f.name);
    o.Set("label", f.label);
    o.Set("extensions", strings(env, f.extensions));
    o.Set("snapshotExtensions", strings(env, f.snapshotExtensions));
    o.Set("aliases", strings(env, f.aliases));
    o.Set("roles", strings(env, f.roles));
    o.Set("probed", f.probe != nullptr);
    o.Set("readable", f.readable());
    o.Set("writable", f.makeWriter != nullptr);
    o.Set("compressible", f.compressible);
    out.Set(i, o);
  }
  return out;
}

Napi::Value OvaMembersJs(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return callOrThrowJs(env, [&]() -> Napi::Value {
    if (info.Length() < 1 || !info[0].IsString()) throw Error(codes::kInvalidArgument, "ovaMembers(path) needs a path");
    std::vector<TarMember> members = listTarMembers(FileView(info[0].As<Napi::String>().Utf8Value()));
    Napi::Array out = Napi::Array::New(env, members.size());
    for (size_t i = 0; i < members.size(); ++i) {
      Napi::Object o = Napi::Object::New(env);
      o.Set("name", members[i].name);
      o.Set("offset", static_cast<double>(members[i].offset));
      o.Set("size", static_cast<double>(members[i].size));
      out.Set(i, o);
    }
    return out;
  });
}

}  // namespace

void InitFormats(Napi::Env env, Napi::Object exports) {
  exports.Set("formats", Napi::Function::New(env, FormatsJs, "formats"));
  exports.Set("ovaMembers", Napi::Function::New(env, OvaMembersJs, "ovaMembers"));
}

}  // namespace h2k::binding
