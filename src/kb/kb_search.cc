// KnowledgeBase::Search: keyword (BM25: the in-memory accelerator, else FTS5), vector (HNSW)
// and hybrid (both in parallel, fused) retrieval under one filter, plus the `auto` router.
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <future>
#include <limits>
#include <unordered_map>
#include <unordered_set>

#include "common/utf8.h"
#include "index/fulltext/analyzer.h"
#include "index/fulltext/fts5_tokenizer.h"
#include "kb/filter.h"
#include "kb/kb.h"

namespace deepkb::kb {

namespace {

struct Candidate {
  int64_t chunk_id = 0;
  double score = 0;        // path score: -bm25 or cosine similarity
  std::string highlight;   // keyword path only
};

// The graph's filter during a search while removals wait in the applier's queue: those labels
// are still in the graph but no longer in the collection.
class ExcludingFilter : public hnsw::Filter {
 public:
  ExcludingFilter(const hnsw::Filter* inner, const std::unordered_set<hnsw::Label>& excluded)
      : inner_(inner), excluded_(excluded) {}
  bool Allows(hnsw::Label label) const override {
    return !excluded_.count(label) && (!inner_ || inner_->Allows(label));
  }
  size_t Cardinality() const override {
    return inner_ ? inner_->Cardinality() : std::numeric_limits<size_t>::max();
  }
  void ForEach(const std::function<void(hnsw::Label)>& fn) const override {
    if (!inner_) return;
    inner_->ForEach([&](hnsw::Label label) {
      if (!excluded_.count(label)) fn(label);
    });
  }

 private:
  const hnsw::Filter* inner_;
  const std::unordered_set<hnsw::Label>& excluded_;
};

bool IsConnector(char c) {
  return c == '-' || c == '_' || c == '.' || c == '/' || c == ':' || c == '#' || c == '+' ||
         c == '@';
}

}  // namespace

bool IsSemanticEmbedder(std::string_view spec) { return spec.rfind("ngram-hash", 0) != 0; }

std::string AutoMode(std::string_view query, bool semantic_embedder) {
  if (!semantic_embedder) return "keyword";
  // Lookups lean on keywords: quoted text, identifiers and codes (PPR-9087, node.js, E1234),
  // and single terms. Natural-language questions go hybrid.
  std::string_view q = query;
  while (!q.empty() && std::isspace(static_cast<unsigned char>(q.front()))) q.remove_prefix(1);
  while (!q.empty() && std::isspace(static_cast<unsigned char>(q.back()))) q.remove_suffix(1);
  if (q.size() >= 2 && ((q.front() == '"' && q.back() == '"') ||
                        (q.rfind("“", 0) == 0 && q.size() >= 6 &&
                         q.substr(q.size() - 3) == "”"))) {
    return "keyword";
  }
  const auto clauses = fulltext::AnalyzeQuery(query);
  if (clauses.size() <= 1) return "keyword";
  for (const auto& c : clauses) {
    if (c.kind != fulltext::QueryClause::Kind::kTerm) continue;
    const std::string& t = c.display;
    bool letters = false, digits = false, connector = false, non_ascii = false;
    for (char ch : t) {
      const auto u = static_cast<unsigned char>(ch);
      if (u >= 0x80) non_ascii = true;
      else if (std::isdigit(u)) digits = true;
      else if (std::isalpha(u)) letters = true;
      else if (IsConnector(ch)) connector = true;
    }
    if (!non_ascii && ((letters && digits) || (connector && (letters || digits)))) return "keyword";
  }
  return "hybrid";
}

Result<SearchResponse> KnowledgeBase::Search(const SearchRequest& req) {
  const auto t0 = std::chrono::steady_clock::now();
  if (req.mode != "keyword" && req.mode != "vector" && req.mode != "hybrid" && req.mode != "auto") {
    return InvalidArgumentError("unknown search mode '" + utf8::Sanitize(req.mode) +
                                "': use hybrid, keyword, vector or auto");
  }
  if (req.top_k < 1 || req.top_k > 1000) {
    return InvalidArgumentError("top_k must be between 1 and 1000");
  }
  if (req.fusion != "rrf" && req.fusion != "weighted") {
    return InvalidArgumentError("unknown fusion method '" + utf8::Sanitize(req.fusion) +
                                "': use rrf or weighted");
  }
  if (req.rrf_k < 0 || req.rrf_k > 100000) {
    return InvalidArgumentError("fusion k must be between 0 and 100000");
  }
  if (!std::isfinite(req.keyword_weight) || !std::isfinite(req.vector_weight) ||
      req.keyword_weight < 0 || req.vector_weight < 0 ||
      req.keyword_weight + req.vector_weight <= 0) {
    return InvalidArgumentError("fusion weights must be finite, >= 0 and not both 0");
  }
  if (req.ef < 0 || req.ef > 10000) return InvalidArgumentError("ef must be between 0 and 10000");
  storage::SqlFilter filter;
  if (!req.filter_json.empty()) {
    auto j = nlohmann::json::parse(req.filter_json, nullptr, false);
    if (j.is_discarded()) {
      return InvalidArgumentError("filter is not valid JSON; e.g. {\"team\": \"ops\"}");
    }
    ASSIGN_OR_RETURN(filter, CompileFilter(j));
  }
  ASSIGN_OR_RETURN(CollectionRow coll, FindCollection(req.collection));
  const std::string mode =
      req.mode == "auto" ? AutoMode(req.query, IsSemanticEmbedder(coll.embedder)) : req.mode;
  const bool use_keyword = mode != "vector";
  const bool use_vector = mode != "keyword";
  // Fusion looks deeper than top_k in each path so that a hit ranked moderately by both can win.
  const int depth = mode == "hybrid" ? std::max(req.top_k * 3, 30) : req.top_k;

  std::shared_ptr<VectorCollection> vc;
  if (use_vector) {
    vc = vectors_.Get(coll.id);
    if (!vc) {
      return FailedPreconditionError("collection '" + coll.name +
                                     "' has no vector index; run `deepkb index rebuild`");
    }
  }

  // Vector path: embed the query (no lock), build the filter (DB), walk the graph (no lock).
  auto vector_path = [&]() -> Result<std::vector<Candidate>> {
    std::vector<Candidate> out;
    bool blank = true;
    for (char c : req.query) blank = blank && std::isspace(static_cast<unsigned char>(c));
    if (blank) return out;
    ASSIGN_OR_RETURN(auto qv, vectors_.Embed(*vc, {req.query}));
    std::unique_ptr<hnsw::LabelSetFilter> label_filter;
    if (!filter.empty()) {
      std::vector<int64_t> ids;
      {
        std::lock_guard<std::mutex> lock(mu_);
        ASSIGN_OR_RETURN(ids, store_.LiveChunkIds(coll.id, &filter));
      }
      label_filter = std::make_unique<hnsw::LabelSetFilter>(
          std::vector<hnsw::Label>(ids.begin(), ids.end()));
    }
    const size_t ef = static_cast<size_t>(
        std::max<int>(req.ef > 0 ? req.ef : static_cast<int>(vectors_.options().ef_search), depth));
    // Committed changes the background applier has not put into the graph yet: additions are
    // scanned exactly, removals filtered out. The queue is read before the graph (a change
    // leaves it only after the graph has it), so no committed vector is missed.
    std::unordered_set<hnsw::Label> removed;
    std::vector<hnsw::SearchHit> hits = vc->pending.Search(
        qv[0], static_cast<size_t>(depth), vc->index->options().metric, label_filter.get(),
        &removed);
    const ExcludingFilter excluding(label_filter.get(), removed);
    const hnsw::Filter* graph_filter = label_filter.get();
    if (!removed.empty()) graph_filter = &excluding;
    ASSIGN_OR_RETURN(auto graph_hits,
                     vc->index->Search(qv[0], static_cast<size_t>(depth), ef, graph_filter));
    if (hits.empty()) {
      hits = std::move(graph_hits);
    } else {
      // A change applied between the two reads is found twice: keep one.
      std::unordered_set<hnsw::Label> seen;
      for (const auto& h : hits) seen.insert(h.label);
      for (const auto& h : graph_hits) {
        if (seen.insert(h.label).second) hits.push_back(h);
      }
      std::sort(hits.begin(), hits.end(), [](const hnsw::SearchHit& a, const hnsw::SearchHit& b) {
        return a.distance < b.distance || (a.distance == b.distance && a.label < b.label);
      });
      if (hits.size() > static_cast<size_t>(depth)) hits.resize(static_cast<size_t>(depth));
    }
    for (const auto& h : hits) {
      out.push_back({static_cast<int64_t>(h.label), 1.0 - static_cast<double>(h.distance), {}});
    }
    return out;
  };

  auto keyword_path = [&]() -> Result<std::vector<Candidate>> {
    std::vector<Candidate> out;
    fulltext::MatchQuery query = fulltext::BuildMatchQuery(req.query);
    if (query.empty()) return out;
    // The in-memory accelerator gives exactly FTS5's ranking with pruning (kb/keyword_set.h);
    // what it cannot answer exactly (FailedPrecondition) goes to FTS5.
    if (auto kw = keywords_.Get(coll.id)) {
      inverted::AllowedChunks allowed;
      if (!filter.empty()) {
        std::lock_guard<std::mutex> lock(mu_);
        ASSIGN_OR_RETURN(allowed.sorted_ids, store_.LiveChunkIds(coll.id, &filter));
      }
      auto hits = kw->Search(query.clauses, depth, {}, filter.empty() ? nullptr : &allowed);
      if (hits.ok()) {
        std::vector<int64_t> ids;
        for (const auto& h : *hits) ids.push_back(h.chunk_id);
        std::vector<ChunkRow> rows;
        if (!ids.empty()) {
          std::lock_guard<std::mutex> lock(mu_);
          ASSIGN_OR_RETURN(rows, store_.GetChunksByIds(ids));
        }
        std::unordered_map<int64_t, const std::string*> body;
        for (const auto& r : rows) body[r.id] = &r.text;
        for (const auto& h : *hits) {
          auto b = body.find(h.chunk_id);  // absent: deleted meanwhile (hydration skips it)
          out.push_back({h.chunk_id, h.score,
                         b == body.end() ? std::string()
                                         : fulltext::SnippetForClauses(*b->second, query.clauses)});
        }
        return out;
      }
      if (hits.status().code() != StatusCode::kFailedPrecondition) return hits.status();
    }
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto hits, fts_.Search(coll.id, query, depth, {}, &filter));
    for (auto& h : hits) out.push_back({h.chunk_id, h.score, std::move(h.highlight)});
    return out;
  };

  std::vector<Candidate> kw, vec;
  if (use_keyword && use_vector) {
    auto vf = std::async(std::launch::async, vector_path);
    auto k = keyword_path();
    auto v = vf.get();
    if (!k.ok()) return k.status();
    if (!v.ok()) return v.status();
    kw = std::move(k).value();
    vec = std::move(v).value();
  } else if (use_keyword) {
    ASSIGN_OR_RETURN(kw, keyword_path());
  } else {
    ASSIGN_OR_RETURN(vec, vector_path());
  }

  // Fuse.
  struct Fused {
    int64_t chunk_id = 0;
    double score = 0;
    int keyword_rank = 0;
    int vector_rank = 0;
    std::string highlight;
  };
  std::vector<Fused> fused;
  std::unordered_map<int64_t, size_t> pos;
  auto entry = [&](int64_t id) -> Fused& {
    auto [it, inserted] = pos.emplace(id, fused.size());
    if (inserted) fused.push_back({id});
    return fused[it->second];
  };
  auto normalise = [](const std::vector<Candidate>& c, size_t i) {
    const double hi = c.front().score, lo = c.back().score;
    return hi > lo ? (c[i].score - lo) / (hi - lo) : 1.0;
  };
  const bool single = !(use_keyword && use_vector);
  for (size_t i = 0; i < kw.size(); ++i) {
    Fused& f = entry(kw[i].chunk_id);
    f.keyword_rank = static_cast<int>(i) + 1;
    f.highlight = std::move(kw[i].highlight);
    f.score += single ? kw[i].score
               : req.fusion == "rrf" ? 1.0 / (req.rrf_k + static_cast<double>(i) + 1)
                                     : req.keyword_weight * normalise(kw, i);
  }
  for (size_t i = 0; i < vec.size(); ++i) {
    Fused& f = entry(vec[i].chunk_id);
    f.vector_rank = static_cast<int>(i) + 1;
    f.score += single ? vec[i].score
               : req.fusion == "rrf" ? 1.0 / (req.rrf_k + static_cast<double>(i) + 1)
                                     : req.vector_weight * normalise(vec, i);
  }
  std::stable_sort(fused.begin(), fused.end(),
                   [](const Fused& a, const Fused& b) { return a.score > b.score; });
  if (fused.size() > static_cast<size_t>(req.top_k)) fused.resize(static_cast<size_t>(req.top_k));

  // Hydrate from SQLite.
  SearchResponse response;
  response.mode = mode;
  if (!fused.empty()) {
    std::vector<int64_t> ids;
    for (const auto& f : fused) ids.push_back(f.chunk_id);
    std::lock_guard<std::mutex> lock(mu_);
    ASSIGN_OR_RETURN(auto chunks, store_.GetChunksByIds(ids));
    std::unordered_map<int64_t, const ChunkRow*> by_id;
    std::vector<int64_t> doc_ids;
    for (const auto& c : chunks) {
      by_id[c.id] = &c;
      doc_ids.push_back(c.document_id);
    }
    ASSIGN_OR_RETURN(auto docs, store_.GetDocumentsByRowIds(doc_ids));
    std::unordered_map<int64_t, const DocumentRow*> doc_by_id;
    for (const auto& d : docs) doc_by_id[d.id] = &d;
    for (auto& f : fused) {
      auto c = by_id.find(f.chunk_id);
      if (c == by_id.end()) continue;  // deleted between the index lookup and now
      auto d = doc_by_id.find(c->second->document_id);
      if (d == doc_by_id.end() || d->second->deleted) continue;
      SearchHit hit;
      hit.doc_id = d->second->doc_id;
      hit.chunk_id = f.chunk_id;
      hit.score = f.score;
      hit.keyword_rank = f.keyword_rank;
      hit.vector_rank = f.vector_rank;
      hit.text = c->second->text;
      hit.highlight = std::move(f.highlight);
      hit.title = d->second->title;
      hit.source = d->second->source;
      hit.page = c->second->page;
      hit.heading_path = c->second->heading_path;
      hit.metadata_json = d->second->metadata_json;
      response.hits.push_back(std::move(hit));
    }
  }
  response.took_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  if (opts_.on_search) opts_.on_search(response.mode, response.took_ms / 1000.0);
  return response;
}

Result<std::vector<std::vector<float>>> KnowledgeBase::EmbedTexts(
    const std::string& collection, const std::vector<std::string>& texts, std::string* spec) {
  ASSIGN_OR_RETURN(CollectionRow coll, FindCollection(collection));
  std::shared_ptr<VectorCollection> vc = vectors_.Get(coll.id);
  if (!vc) {
    return FailedPreconditionError("collection '" + coll.name +
                                   "' has no vector index; run `deepkb index rebuild`");
  }
  if (spec) *spec = vc->spec;
  return vectors_.Embed(*vc, texts);
}

}  // namespace deepkb::kb
