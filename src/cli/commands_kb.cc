// CLI subcommands that work on a knowledge base directly in --data-dir: collections, ingest,
// search, docs.
#include <nlohmann/json.hpp>

#include <unistd.h>

#include <cstdio>
#include <iostream>
#include <string>
#include <vector>

#include "cli/app.h"
#include "cli/progress.h"
#include "kb/ingest.h"
#include "kb/kb_json.h"
#include "server/disk_guard.h"
#include "common/utf8.h"

namespace deepkb::cli {

namespace {

using nlohmann::json;
using kb::CollectionToJson;
using kb::DocumentToJson;
using kb::HitToJson;
using kb::ChunkToJson;

void PrintJson(const json& j) {
  std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

// Highlight markers → terminal bold (or brackets when not a terminal).
std::string RenderHighlight(std::string s, bool tty) {
  const std::string open = tty ? "\033[1m" : "[", close = tty ? "\033[0m" : "]";
  for (auto [from, to] : {std::pair<std::string, std::string>{"<mark>", open}, {"</mark>", close}}) {
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size()) {
      s.replace(pos, from.size(), to);
    }
  }
  for (char& c : s) {
    if (c == '\n') c = ' ';
  }
  return s;
}

}  // namespace

void RegisterKbCommands(CLI::App& app, GlobalOptions& g, int* exit_code) {
  // ---- collections -------------------------------------------------------------------------
  auto* coll = app.add_subcommand("collections", "create, list and delete collections");
  coll->require_subcommand(1);
  {
    auto* create = coll->add_subcommand("create", "create a collection");
    auto req = std::make_shared<kb::CreateCollectionRequest>();
    auto as_json = std::make_shared<bool>(false);
    create->add_option("name", req->name, "collection name: letters (any script), digits, _ . -")->required();
    create->add_option("--embedder", req->embedder, "ngram-hash | openai:MODEL@URL")
        ->capture_default_str();
    create->add_option("--chunk-tokens", req->chunk_tokens, "chunk size in tokens")
        ->capture_default_str();
    create->add_option("--chunk-overlap", req->chunk_overlap, "overlap between chunks in tokens")
        ->capture_default_str();
    create->add_flag("--json", *as_json, "machine-readable output");
    create->callback([&g, exit_code, req, as_json] {
      auto db = OpenDataDir(g);
      if (!db.ok()) { *exit_code = Fail(db.status()); return; }
      auto c = db->kb->CreateCollection(*req);
      if (!c.ok()) { *exit_code = Fail(c.status()); return; }
      if (*as_json) PrintJson(CollectionToJson(*c));
      else std::printf("created collection '%s' (chunks of %d tokens, overlap %d)\n",
                       c->name.c_str(), c->chunk_tokens, c->chunk_overlap);
    });

    auto* list = coll->add_subcommand("list", "list collections with document and chunk counts");
    auto list_json = std::make_shared<bool>(false);
    list->add_flag("--json", *list_json, "machine-readable output");
    list->callback([&g, exit_code, list_json] {
      auto db = OpenDataDir(g);
      if (!db.ok()) { *exit_code = Fail(db.status()); return; }
      auto cs = db->kb->ListCollections();
      if (!cs.ok()) { *exit_code = Fail(cs.status()); return; }
      if (*list_json) {
        json arr = json::array();
        for (const auto& c : *cs) arr.push_back(CollectionToJson(c));
        PrintJson(json{{"collections", arr}});
        return;
      }
      if (cs->empty()) {
        std::printf("no collections; create one with `deepkb collections create NAME`\n");
        return;
      }
      std::printf("%-24s %10s %10s  %s\n", "NAME", "DOCUMENTS", "CHUNKS", "EMBEDDER");
      for (const auto& c : *cs) {
        std::printf("%-24s %10lld %10lld  %s\n", c.name.c_str(),
                    static_cast<long long>(c.documents), static_cast<long long>(c.chunks),
                    c.embedder.c_str());
      }
    });

    auto* del = coll->add_subcommand("delete", "delete a collection and all its documents");
    auto del_name = std::make_shared<std::string>();
    auto del_json = std::make_shared<bool>(false);
    del->add_option("name", *del_name, "collection name")->required();
    del->add_flag("--json", *del_json, "machine-readable output");
    del->callback([&g, exit_code, del_name, del_json] {
      auto db = OpenDataDir(g);
      if (!db.ok()) { *exit_code = Fail(db.status()); return; }
      Status s = db->kb->DeleteCollection(*del_name);
      if (!s.ok()) { *exit_code = Fail(s); return; }
      if (*del_json) PrintJson(json{{"deleted", *del_name}});
      else std::printf("deleted collection '%s'\n", del_name->c_str());
    });
  }

  // ---- ingest ------------------------------------------------------------------------------
  {
    auto* ingest = app.add_subcommand("ingest", "ingest files or folders into a collection");
    ingest->footer(
        "Formats: txt, md, html, pdf, docx; text in UTF-8, UTF-16, GBK/GB18030 or Big5.\n"
        "Document ids: a file argument gets its file name; files under a folder argument get\n"
        "<folder name>/<relative path>. Unchanged files (same SHA-256) are skipped.\n"
        "Prints added/updated/unchanged/deleted/failed counts; exits 1 if any file failed.");
    auto paths = std::make_shared<std::vector<std::string>>();
    auto opts = std::make_shared<kb::IngestOptions>();
    auto as_json = std::make_shared<bool>(false);
    ingest->add_option("paths", *paths, "files or folders")->required();
    ingest->add_option("--collection,-c", opts->collection, "target collection")->required();
    ingest->add_flag("--recursive,-r", opts->recursive, "descend into sub-folders");
    ingest->add_flag("--mirror", opts->mirror,
                     "also delete documents whose files are gone from the given folders");
    ingest->add_flag("--json", *as_json, "machine-readable output");
    auto refuse_at = std::make_shared<double>(0.95);
    ingest->add_option("--disk-refuse-writes-at", *refuse_at,
                       "refuse to ingest when the data directory's disk is this full (0-1], as "
                       "`serve` does")
        ->check(CLI::Range(0.0, 1.0))
        ->capture_default_str();
    ingest->callback([&g, exit_code, paths, opts, as_json, refuse_at] {
      auto db = OpenDataDir(g);
      if (!db.ok()) { *exit_code = Fail(db.status()); return; }
      if (Status s = server::DiskGuard::ValidateThreshold(*refuse_at); !s.ok()) {
        *exit_code = Fail(s);
        return;
      }
      if (Status s = server::DiskGuard(g.data_dir, *refuse_at).CheckWrite(); !s.ok()) {
        *exit_code = Fail(s);
        return;
      }
      opts->max_file_bytes = g.max_file_mb << 20;
      ProgressBar bar(!*as_json && ProgressBar::StderrIsTerminal());
      auto report = kb::IngestPaths(
          *db->kb, *paths, *opts, [&bar](const kb::IngestProgress& p) {
            const double mb = static_cast<double>(p.bytes_done) / 1e6;
            char extra[64];
            std::snprintf(extra, sizeof extra, "%lld chunks  %.1f MB",
                          static_cast<long long>(p.chunks), mb);
            bar.Update(p.files_done, p.files_total, extra, p.current,
                       p.bytes_total > 0 ? static_cast<double>(p.bytes_done) /
                                               static_cast<double>(p.bytes_total)
                                         : -1);
          });
      bar.Finish();
      if (!report.ok()) { *exit_code = Fail(report.status()); return; }
      if (*as_json) {
        json failed = json::array();
        for (const auto& f : report->failed) failed.push_back({{"path", f.path}, {"error", f.error}});
        PrintJson(json{{"added", report->added},
                       {"updated", report->updated},
                       {"unchanged", report->unchanged},
                       {"deleted", report->deleted},
                       {"skipped", report->skipped},
                       {"failed", failed},
                       {"chunks", report->chunks},
                       {"bytes", report->bytes},
                       {"seconds", report->seconds}});
      } else {
        for (const auto& f : report->failed) {
          std::fprintf(stderr, "failed: %s: %s\n", f.path.c_str(), f.error.c_str());
        }
        std::printf(
            "added %lld, updated %lld, unchanged %lld, deleted %lld, failed %zu, skipped %lld "
            "(%lld chunks, %.1f MB in %.2f s)\n",
            static_cast<long long>(report->added), static_cast<long long>(report->updated),
            static_cast<long long>(report->unchanged), static_cast<long long>(report->deleted),
            report->failed.size(), static_cast<long long>(report->skipped),
            static_cast<long long>(report->chunks), static_cast<double>(report->bytes) / 1e6,
            report->seconds);
      }
      // Partial failure is still a failure for scripts: exit 1 when any file failed.
      if (!report->failed.empty()) *exit_code = 1;
    });
  }

  // ---- search ------------------------------------------------------------------------------
  {
    auto* search = app.add_subcommand("search", "search a collection");
    auto req = std::make_shared<kb::SearchRequest>();
    auto as_json = std::make_shared<bool>(false);
    auto filter = std::make_shared<std::string>();
    search->add_option("query", req->query, "the query (any text; no query syntax)")->required();
    search->add_option("--collection,-c", req->collection, "collection to search")->required();
    search->add_option("--mode", req->mode,
                       "auto (keyword for lookups and on ngram-hash collections, else hybrid) | "
                       "hybrid (keyword + vector, fused) | keyword | vector")
        ->check(CLI::IsMember({"hybrid", "keyword", "vector", "auto"}))
        ->capture_default_str();
    search->add_option("--fusion", req->fusion, "hybrid fusion: rrf | weighted")
        ->check(CLI::IsMember({"rrf", "weighted"}))
        ->capture_default_str();
    search->add_option("--rrf-k", req->rrf_k, "RRF constant k")->capture_default_str();
    search->add_option("--keyword-weight", req->keyword_weight, "weighted fusion: keyword weight")
        ->capture_default_str();
    search->add_option("--vector-weight", req->vector_weight, "weighted fusion: vector weight")
        ->capture_default_str();
    search->add_option("--ef", req->ef, "HNSW search beam width (0 = default)");
    search->add_option("--top-k,-k", req->top_k, "number of hits")
        ->check(CLI::Range(1, 1000))
        ->capture_default_str();
    search->add_option("--filter", *filter,
                       "metadata filter as JSON, e.g. '{\"team\":\"ops\",\"year\":{\"$gte\":2020}}'");
    search->add_flag("--json", *as_json, "machine-readable output: {\"hits\": [...]}");
    search->callback([&g, exit_code, req, as_json, filter] {
      req->filter_json = *filter;
      auto db = OpenDataDir(g);
      if (!db.ok()) { *exit_code = Fail(db.status()); return; }
      auto res = db->kb->Search(*req);
      if (!res.ok()) { *exit_code = Fail(res.status()); return; }
      if (*as_json) {
        json hits = json::array();
        for (const auto& h : res->hits) hits.push_back(HitToJson(h));
        PrintJson(json{{"hits", hits}, {"took_ms", res->took_ms}, {"mode", res->mode}});
        return;
      }
      if (res->hits.empty()) {
        std::printf("no results\n");
        return;
      }
      const bool tty = ::isatty(1) == 1;
      int rank = 0;
      for (const auto& h : res->hits) {
        std::string ranks;
        if (h.keyword_rank) ranks += " kw#" + std::to_string(h.keyword_rank);
        if (h.vector_rank) ranks += " vec#" + std::to_string(h.vector_rank);
        std::printf("%d. %s  [score %.3f%s]%s%s\n", ++rank, h.doc_id.c_str(), h.score, ranks.c_str(),
                    h.page > 0 ? ("  page " + std::to_string(h.page)).c_str() : "",
                    h.heading_path.empty() ? "" : ("  § " + h.heading_path).c_str());
        if (!h.title.empty()) std::printf("   %s\n", h.title.c_str());
        std::string snippet = h.highlight;
        if (snippet.empty()) {  // vector-only hit: show the start of the chunk
          snippet = h.text.substr(0, utf8::FloorBoundary(h.text, 200));
          if (snippet.size() < h.text.size()) snippet += "…";
        }
        std::printf("   %s\n\n", RenderHighlight(snippet, tty).c_str());
      }
      std::printf("%zu hits in %.1f ms (%s)\n", res->hits.size(), res->took_ms, res->mode.c_str());
    });
  }

  // ---- docs --------------------------------------------------------------------------------
  {
    auto* docs = app.add_subcommand("docs", "list, show and delete documents");
    docs->require_subcommand(1);
    struct DocsArgs {
      std::string collection;
      std::string id;
      std::string cursor;
      int limit = 100;
      bool json = false;
    };
    auto list = docs->add_subcommand("list", "list documents (ordered by id)");
    auto la = std::make_shared<DocsArgs>();
    list->add_option("--collection,-c", la->collection, "collection")->required();
    list->add_option("--limit", la->limit, "page size")->check(CLI::Range(1, 1000))->capture_default_str();
    list->add_option("--cursor", la->cursor, "start after this document id (next_cursor of the previous page)");
    list->add_flag("--json", la->json, "machine-readable output");
    list->callback([&g, exit_code, la] {
      auto db = OpenDataDir(g);
      if (!db.ok()) { *exit_code = Fail(db.status()); return; }
      auto ds = db->kb->ListDocuments(la->collection, la->cursor, la->limit);
      if (!ds.ok()) { *exit_code = Fail(ds.status()); return; }
      const bool more = static_cast<int>(ds->size()) == la->limit;
      if (la->json) {
        json arr = json::array();
        for (const auto& d : *ds) arr.push_back(DocumentToJson(d));
        json out{{"documents", arr}};
        out["next_cursor"] = more ? json(ds->back().doc_id) : json(nullptr);
        PrintJson(out);
        return;
      }
      for (const auto& d : *ds) {
        std::printf("%-48s %6lld chunks  %s\n", d.doc_id.c_str(),
                    static_cast<long long>(d.chunk_count), d.title.c_str());
      }
      if (more) std::printf("(more: --cursor '%s')\n", ds->back().doc_id.c_str());
    });

    auto show = docs->add_subcommand("show", "show a document and its chunks");
    auto sa = std::make_shared<DocsArgs>();
    show->add_option("--collection,-c", sa->collection, "collection")->required();
    show->add_option("id", sa->id, "document id")->required();
    show->add_flag("--json", sa->json, "machine-readable output");
    show->callback([&g, exit_code, sa] {
      auto db = OpenDataDir(g);
      if (!db.ok()) { *exit_code = Fail(db.status()); return; }
      auto d = db->kb->GetDocument(sa->collection, sa->id);
      if (!d.ok()) { *exit_code = Fail(d.status()); return; }
      auto chunks = db->kb->GetDocumentChunks(sa->collection, sa->id);
      if (!chunks.ok()) { *exit_code = Fail(chunks.status()); return; }
      if (sa->json) {
        json j = DocumentToJson(*d);
        json arr = json::array();
        for (const auto& c : *chunks) arr.push_back(ChunkToJson(c));
        j["chunk_list"] = arr;
        PrintJson(j);
        return;
      }
      std::printf("id:       %s\ntitle:    %s\nsource:   %s\ntype:     %s\nversion:  %llu\n"
                  "sha256:   %s\nsize:     %lld bytes\nmetadata: %s\nchunks:   %zu\n\n",
                  d->doc_id.c_str(), d->title.c_str(), d->source.c_str(), d->mime.c_str(),
                  static_cast<unsigned long long>(d->version), d->content_hash.c_str(),
                  static_cast<long long>(d->size_bytes), d->metadata_json.c_str(), chunks->size());
      for (const auto& c : *chunks) {
        std::printf("--- chunk %d (id %lld, chars %lld-%lld, %d tokens%s%s)\n%s\n\n", c.ordinal,
                    static_cast<long long>(c.id), static_cast<long long>(c.char_start),
                    static_cast<long long>(c.char_end), c.token_count,
                    c.page > 0 ? (", page " + std::to_string(c.page)).c_str() : "",
                    c.heading_path.empty() ? "" : (", " + c.heading_path).c_str(), c.text.c_str());
      }
    });

    auto del = docs->add_subcommand("delete", "delete a document (a tombstone is kept for sync)");
    auto da = std::make_shared<DocsArgs>();
    del->add_option("--collection,-c", da->collection, "collection")->required();
    del->add_option("id", da->id, "document id")->required();
    del->add_flag("--json", da->json, "machine-readable output");
    del->callback([&g, exit_code, da] {
      auto db = OpenDataDir(g);
      if (!db.ok()) { *exit_code = Fail(db.status()); return; }
      auto v = db->kb->DeleteDocument(da->collection, da->id);
      if (!v.ok()) { *exit_code = Fail(v.status()); return; }
      if (da->json) PrintJson(json{{"id", da->id}, {"deleted", true}, {"version", *v}});
      else std::printf("deleted '%s'\n", da->id.c_str());
    });
  }
}

}  // namespace deepkb::cli
