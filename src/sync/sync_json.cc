// Wire shapes of the sync protocol; see sync_json.h. Nothing throws out of this file.
#include "sync/sync_json.h"

#include <openssl/evp.h>

#include <bit>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <limits>

namespace deepkb::sync {

using nlohmann::json;

namespace {

static_assert(std::endian::native == std::endian::little, "vectors are sent little-endian");

// Readers of one field of `j`; `where` prefixes error messages. Missing optional fields leave
// `out` alone.
class Fields {
 public:
  Fields(const json& j, std::string where) : j_(j), where_(std::move(where)) {}

  Status Str(const char* name, std::string& out, bool required = false) const {
    const json* v = Find(name);
    if (!v) return required ? Missing(name) : Status::Ok();
    if (!v->is_string()) return Bad(name, "a string");
    out = v->get<std::string>();
    return Status::Ok();
  }
  template <typename T>
  Status Int(const char* name, T& out, bool required = false) const {
    const json* v = Find(name);
    if (!v) return required ? Missing(name) : Status::Ok();
    if (!v->is_number_integer()) return Bad(name, "an integer");
    const int64_t x = v->is_number_unsigned() && v->get<uint64_t>() > INT64_MAX
                          ? -1 : v->get<int64_t>();
    if (x < 0 || x > static_cast<int64_t>(std::numeric_limits<T>::max())) {
      return Bad(name, "a non-negative integer in range");
    }
    out = static_cast<T>(x);
    return Status::Ok();
  }
  Status Bool(const char* name, bool& out) const {
    const json* v = Find(name);
    if (!v) return Status::Ok();
    if (!v->is_boolean()) return Bad(name, "true or false");
    out = v->get<bool>();
    return Status::Ok();
  }
  // A 64-bit HLC as a decimal string or a non-negative integer.
  Status Hlc(const char* name, uint64_t& out) const {
    const json* v = Find(name);
    if (!v) return Missing(name);
    if (v->is_number_unsigned()) {
      out = v->get<uint64_t>();
      return Status::Ok();
    }
    if (v->is_string()) {
      const std::string s = v->get<std::string>();
      if (!s.empty() && s.size() <= 20 && s.find_first_not_of("0123456789") == std::string::npos) {
        errno = 0;
        char* end = nullptr;
        const unsigned long long x = std::strtoull(s.c_str(), &end, 10);
        if (errno == 0 && *end == '\0') {
          out = x;
          return Status::Ok();
        }
      }
    }
    return Bad(name, "a decimal string (or non-negative integer) of at most 64 bits");
  }
  const json* Find(const char* name) const {
    auto it = j_.find(name);
    return it == j_.end() || it->is_null() ? nullptr : &*it;
  }
  Status Missing(const char* name) const {
    return InvalidArgumentError(where_ + "." + name + " is missing");
  }
  Status Bad(const char* name, const char* want) const {
    return InvalidArgumentError(where_ + "." + name + " must be " + want);
  }
  const std::string& where() const { return where_; }

 private:
  const json& j_;
  std::string where_;
};

Result<kb::SyncDocument> DocumentFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgumentError("change.document must be an object");
  kb::SyncDocument d;
  const Fields f(j, "change.document");
  for (Status s : {f.Str("title", d.title), f.Str("source", d.source), f.Str("mime", d.mime),
                   f.Int("size_bytes", d.size_bytes), f.Int("created_at", d.created_at),
                   f.Int("updated_at", d.updated_at), f.Str("embedder", d.embedder),
                   f.Int("dim", d.dim)}) {
    RETURN_IF_ERROR(s);
  }
  if (const json* m = f.Find("metadata")) {
    if (!m->is_object()) return f.Bad("metadata", "an object");
    d.metadata_json = m->dump();
  }
  const json* chunks = f.Find("chunks");
  if (!chunks || !chunks->is_array()) return f.Bad("chunks", "an array");
  for (size_t i = 0; i < chunks->size(); ++i) {
    const json& cj = (*chunks)[i];
    const std::string where = "change.document.chunks[" + std::to_string(i) + "]";
    if (!cj.is_object()) return InvalidArgumentError(where + " must be an object");
    const Fields cf(cj, where);
    kb::ChunkRow c;
    c.ordinal = static_cast<int>(i);
    for (Status s : {cf.Str("text", c.text, true), cf.Int("char_start", c.char_start),
                     cf.Int("char_end", c.char_end), cf.Int("page", c.page),
                     cf.Str("heading_path", c.heading_path), cf.Int("token_count", c.token_count)}) {
      RETURN_IF_ERROR(s);
    }
    d.chunks.push_back(std::move(c));
  }
  if (const json* vs = f.Find("vectors")) {
    if (!vs->is_array()) return f.Bad("vectors", "an array of base64 strings");
    for (const json& v : *vs) {
      if (!v.is_string()) return f.Bad("vectors", "an array of base64 strings");
      auto vec = VectorFromBase64(v.get<std::string>());
      if (!vec.ok()) return vec.status().WithContext("change.document.vectors");
      d.vectors.push_back(std::move(vec).value());
    }
  }
  return d;
}

}  // namespace

std::string VectorToBase64(const std::vector<float>& v) {
  const size_t n = v.size() * sizeof(float);
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  const int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(v.data()),
                                  static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

Result<std::vector<float>> VectorFromBase64(const std::string& b64) {
  if (b64.empty() || b64.size() % 4 != 0 || b64.size() > (64u << 20)) {
    return InvalidArgumentError("a vector is not valid base64 of float32 values");
  }
  std::string raw(b64.size() / 4 * 3, '\0');
  const int len = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(raw.data()),
                                  reinterpret_cast<const unsigned char*>(b64.data()),
                                  static_cast<int>(b64.size()));
  if (len < 0) return InvalidArgumentError("a vector is not valid base64");
  // EVP_DecodeBlock counts padding as zero bytes: drop one byte per '='.
  size_t n = static_cast<size_t>(len);
  for (size_t i = b64.size(); i > 0 && b64[i - 1] == '='; --i) --n;
  if (n % sizeof(float) != 0 || n == 0) {
    return InvalidArgumentError("a vector's byte length is not a multiple of 4 (float32)");
  }
  std::vector<float> v(n / sizeof(float));
  std::memcpy(v.data(), raw.data(), n);
  return v;
}

json ChangeToJson(const kb::SyncChange& c) {
  json j{{"seq", c.seq},
         {"collection", c.collection},
         {"doc_id", c.doc_id},
         {"hlc", std::to_string(c.hlc)},
         {"node_id", c.node_id},
         {"deleted", c.deleted},
         {"content_hash", c.content_hash}};
  if (c.document) {
    const kb::SyncDocument& d = *c.document;
    json chunks = json::array();
    for (const auto& ch : d.chunks) {
      chunks.push_back({{"text", ch.text},
                        {"char_start", ch.char_start},
                        {"char_end", ch.char_end},
                        {"page", ch.page},
                        {"heading_path", ch.heading_path},
                        {"token_count", ch.token_count}});
    }
    json meta = json::parse(d.metadata_json, nullptr, false);
    json doc{{"title", d.title},     {"source", d.source},         {"mime", d.mime},
             {"metadata", meta.is_object() ? meta : json::object()},
             {"size_bytes", d.size_bytes}, {"created_at", d.created_at},
             {"updated_at", d.updated_at}, {"embedder", d.embedder}, {"dim", d.dim},
             {"chunks", std::move(chunks)}};
    if (!d.vectors.empty()) {
      json vs = json::array();
      for (const auto& v : d.vectors) vs.push_back(VectorToBase64(v));
      doc["vectors"] = std::move(vs);
    }
    j["document"] = std::move(doc);
  }
  return j;
}

Result<kb::SyncChange> ChangeFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgumentError("a change must be a JSON object");
  kb::SyncChange c;
  const Fields f(j, "change");
  for (Status s : {f.Int("seq", c.seq), f.Str("collection", c.collection, true),
                   f.Str("doc_id", c.doc_id, true), f.Hlc("hlc", c.hlc),
                   f.Str("node_id", c.node_id, true), f.Bool("deleted", c.deleted),
                   f.Str("content_hash", c.content_hash)}) {
    RETURN_IF_ERROR(s);
  }
  if (const json* d = f.Find("document")) {
    ASSIGN_OR_RETURN(kb::SyncDocument doc, DocumentFromJson(*d));
    c.document = std::move(doc);
  }
  return c;
}

json PageToJson(const kb::ChangePage& p) {
  json changes = json::array();
  for (const auto& c : p.changes) changes.push_back(ChangeToJson(c));
  return json{{"changes", std::move(changes)},
              {"last_seq", p.last_seq},
              {"update_seq", p.update_seq},
              {"more", p.more}};
}

Result<kb::ChangePage> PageFromJson(const json& j) {
  if (!j.is_object()) return InvalidArgumentError("a page of changes must be a JSON object");
  kb::ChangePage p;
  const Fields f(j, "page");
  for (Status s : {f.Int("last_seq", p.last_seq, true), f.Int("update_seq", p.update_seq),
                   f.Bool("more", p.more)}) {
    RETURN_IF_ERROR(s);
  }
  const json* cs = f.Find("changes");
  if (!cs || !cs->is_array()) return f.Bad("changes", "an array");
  for (const json& cj : *cs) {
    ASSIGN_OR_RETURN(kb::SyncChange c, ChangeFromJson(cj));
    p.changes.push_back(std::move(c));
  }
  return p;
}

Result<uint64_t> InfoPurgedHlc(const json& info) {
  if (!info.is_object()) return InvalidArgumentError("a sync info answer must be a JSON object");
  const Fields f(info, "info");
  uint64_t hlc = 0;
  if (!f.Find("purged_hlc")) return hlc;
  RETURN_IF_ERROR(f.Hlc("purged_hlc", hlc));
  return hlc;
}

json ApplyResultsToJson(const std::vector<kb::ApplyResult>& results,
                        const std::vector<std::string>& doc_ids) {
  json arr = json::array();
  int64_t applied = 0, ignored = 0, conflicts = 0, rejected = 0;
  for (size_t i = 0; i < results.size(); ++i) {
    const kb::ApplyResult& r = results[i];
    json e{{"doc_id", i < doc_ids.size() ? doc_ids[i] : ""},
           {"outcome", kb::ApplyOutcomeName(r.outcome)}};
    if (!r.reason.empty()) e["reason"] = r.reason;
    if (r.retry) e["retry"] = true;
    arr.push_back(std::move(e));
    switch (r.outcome) {
      case kb::ApplyOutcome::kApplied: ++applied; break;
      case kb::ApplyOutcome::kIgnoredOlder:
      case kb::ApplyOutcome::kIgnoredDuplicate: ++ignored; break;
      case kb::ApplyOutcome::kConflictRecorded: ++conflicts; break;
      case kb::ApplyOutcome::kRejected: ++rejected; break;
    }
  }
  return json{{"results", std::move(arr)}, {"applied", applied},   {"ignored", ignored},
              {"conflicts", conflicts},    {"rejected", rejected}};
}

}  // namespace deepkb::sync
