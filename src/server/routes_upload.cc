// POST /v1/collections/{c}/documents: multipart/form-data upload of one or more files.
//
// Each part with a file name becomes one document (parts without a file name, i.e. plain form
// fields, are ignored):
//   - id: the file name as sent, with backslashes turned into '/', and empty, "." and ".."
//     segments dropped ("docs/guide/intro.md" keeps its folders; "../x.md" becomes "x.md"). Ids
//     are keys, never file paths on the server.
//   - format: from the file name's extension when it names a supported one, else from the part's
//     Content-Type, else detected from the bytes (the rules of text/document.h, as for
//     `deepkb ingest`).
// Files are written one by one, each in its own transaction; one file's failure does not stop
// the others. Response 200:
//   {"results": [{"file", "id", "status": "created|updated|unchanged|failed", "version"?,
//                 "chunks"?, "error"?: {"code", "message"}}],
//    "added", "updated", "unchanged", "failed"}
// 400 when the body holds no file part.
#include <nlohmann/json.hpp>

#include "common/utf8.h"
#include "server/routes.h"
#include "text/document.h"

namespace deepkb::server {

using nlohmann::json;

namespace {

std::string DocIdFromFileName(const std::string& name) {
  std::string id;
  std::string seg;
  auto flush = [&] {
    if (!seg.empty() && seg != "." && seg != "..") {
      if (!id.empty()) id += '/';
      id += seg;
    }
    seg.clear();
  };
  for (char c : name) {
    if (c == '/' || c == '\\') {
      flush();
    } else {
      seg += c;
    }
  }
  flush();
  return id;
}

HttpResponse Upload(kb::KnowledgeBase& kb, const HttpRequest& req) {
  json results = json::array();
  int64_t added = 0, updated = 0, unchanged = 0, failed = 0;
  for (const UploadedFile& f : req.files) {
    if (f.filename.empty()) continue;  // a plain form field
    json r{{"file", utf8::Sanitize(f.filename)}};
    auto fail = [&](const Status& s) {
      r["status"] = "failed";
      r["error"] = json{{"code", std::string(StatusCodeName(s.code()))}, {"message", s.message()}};
      ++failed;
    };
    kb::PutDocumentRequest pr;
    pr.collection = req.params[0];
    pr.doc_id = DocIdFromFileName(f.filename);
    r["id"] = utf8::Sanitize(pr.doc_id);
    pr.file_name = pr.doc_id;
    pr.source = utf8::Sanitize(f.filename);
    if (text::FormatFromFileName(pr.doc_id) == text::Format::kUnknown) {
      const std::string mime = f.content_type.substr(0, f.content_type.find(';'));
      pr.format = text::FormatFromMimeType(mime);  // kUnknown: detected from the bytes
    }
    pr.bytes = f.content;
    if (pr.doc_id.empty()) {
      fail(InvalidArgumentError("file name gives an empty document id"));
    } else {
      auto res = kb.PutDocument(pr);
      if (!res.ok()) {
        fail(res.status());
      } else {
        r["status"] = std::string(kb::OutcomeName(res->outcome));
        r["version"] = res->version;
        r["chunks"] = res->chunks;
        switch (res->outcome) {
          case kb::PutResult::Outcome::kCreated: ++added; break;
          case kb::PutResult::Outcome::kUpdated: ++updated; break;
          case kb::PutResult::Outcome::kUnchanged: ++unchanged; break;
        }
      }
    }
    results.push_back(std::move(r));
  }
  if (results.empty()) {
    return HttpResponse::Error(InvalidArgumentError(
        "no files in the upload; send multipart/form-data with one or more file parts, e.g. "
        "curl -F file=@guide.md"));
  }
  return HttpResponse::Json(200, json{{"results", results},
                                      {"added", added},
                                      {"updated", updated},
                                      {"unchanged", unchanged},
                                      {"failed", failed}});
}

}  // namespace

std::vector<Route> UploadRoutes(kb::KnowledgeBase& kb) {
  kb::KnowledgeBase* k = &kb;
  std::vector<Route> r;
  r.push_back({"POST", R"(/v1/collections/([^/]+)/documents)", "/v1/collections/{c}/documents",
               auth::Permission::kWrite, 1, [k](const HttpRequest& q) { return Upload(*k, q); },
               RequestBody::kMultipart});
  return r;
}

}  // namespace deepkb::server
