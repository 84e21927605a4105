#include "kb/kb_json.h"

namespace deepkb::kb {

using nlohmann::json;

json MetadataToJson(const std::string& text) {
  auto j = json::parse(text, nullptr, false);
  return j.is_discarded() || !j.is_object() ? json::object() : j;
}

json CollectionToJson(const CollectionRow& c) {
  return json{{"name", c.name},
              {"embedder", c.embedder},
              {"dim", c.dim},
              {"chunk_tokens", c.chunk_tokens},
              {"chunk_overlap", c.chunk_overlap},
              {"created_at", c.created_at},
              {"documents", c.documents},
              {"chunks", c.chunks}};
}

json DocumentToJson(const DocumentRow& d) {
  return json{{"id", d.doc_id},
              {"version", d.version},
              {"title", d.title},
              {"source", d.source},
              {"mime", d.mime},
              {"content_hash", d.content_hash},
              {"size_bytes", d.size_bytes},
              {"chunks", d.chunk_count},
              {"metadata", MetadataToJson(d.metadata_json)},
              {"created_at", d.created_at},
              {"updated_at", d.updated_at}};
}

json ChunkToJson(const ChunkRow& c) {
  json j{{"chunk_id", c.id},         {"ordinal", c.ordinal},   {"text", c.text},
         {"char_start", c.char_start}, {"char_end", c.char_end}, {"tokens", c.token_count},
         {"heading_path", c.heading_path}};
  if (c.page > 0) j["page"] = c.page;
  return j;
}

json HitToJson(const SearchHit& h) {
  json j{{"doc_id", h.doc_id},
         {"chunk_id", h.chunk_id},
         {"score", h.score},
         {"text", h.text},
         {"highlight", h.highlight},
         {"title", h.title},
         {"source", h.source},
         {"metadata", MetadataToJson(h.metadata_json)}};
  if (h.keyword_rank > 0) j["keyword_rank"] = h.keyword_rank;
  if (h.vector_rank > 0) j["vector_rank"] = h.vector_rank;
  if (h.page > 0) j["page"] = h.page;
  if (!h.heading_path.empty()) j["heading_path"] = h.heading_path;
  return j;
}

}  // namespace deepkb::kb
