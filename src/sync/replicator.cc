// The replicator (replicator.h). The only file of deepkb_sync that includes cpp-httplib; nothing
// throws out of it. Request bodies are sent gzip-compressed and answers are accepted compressed
// (cpp-httplib's zlib support on both sides); DirectionReport::bytes counts the JSON before
// compression.
#include "sync/replicator.h"

#include <httplib.h>
#include <unistd.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <functional>
#include <map>
#include <set>

#include "common/utf8.h"
#include "embed/openai_embedder.h"
#include "sync/sync_json.h"

namespace deepkb::sync {

using nlohmann::json;

namespace {

// Percent-encodes everything but unreserved characters (cpp-httplib's query encoder).
std::string UrlEncode(const std::string& s) { return httplib::detail::encode_query_param(s); }

// The canonical code named in an error body, for the status codes a peer sends on purpose.
StatusCode CodeForHttp(int status) {
  switch (status) {
    case 400: return StatusCode::kInvalidArgument;
    case 401: return StatusCode::kUnauthenticated;
    case 403: return StatusCode::kPermissionDenied;
    case 404: return StatusCode::kNotFound;
    case 409: return StatusCode::kAlreadyExists;
    case 412: return StatusCode::kFailedPrecondition;
    case 413: return StatusCode::kTooLarge;
    case 429: return StatusCode::kResourceExhausted;
    default: return StatusCode::kUnavailable;
  }
}

// One peer: parsed URL, key, one keep-alive connection, byte counters.
class Peer {
 public:
  static Result<std::unique_ptr<Peer>> Create(const PeerConfig& cfg) {
    if (cfg.url.rfind("http://", 0) != 0 && cfg.url.rfind("https://", 0) != 0) {
      return InvalidArgumentError("peer URL '" + cfg.url +
                                  "' must start with http:// or https://");
    }
    auto target = embed::ParseOpenAiTarget("sync@" + cfg.url);
    if (!target.ok()) {
      return InvalidArgumentError("peer URL '" + cfg.url + "' is not usable; expected "
                                  "http(s)://host[:port]");
    }
    if (!(cfg.timeout_seconds > 0) || !(cfg.connect_timeout_seconds > 0)) {
      return InvalidArgumentError("peer timeouts must be positive");
    }
    const bool mtls = !cfg.client_cert_file.empty() || !cfg.client_key_file.empty();
    if (mtls) {
      if (cfg.client_cert_file.empty() || cfg.client_key_file.empty()) {
        return InvalidArgumentError("a client certificate needs both its certificate and its key "
                                    "file");
      }
      if (cfg.url.rfind("https://", 0) != 0) {
        return InvalidArgumentError("a client certificate is only used with an https:// peer (" +
                                    cfg.url + ")");
      }
      for (const std::string& f : {cfg.client_cert_file, cfg.client_key_file}) {
        if (::access(f.c_str(), R_OK) != 0) {
          return FailedPreconditionError("cannot read client certificate file '" + f + "'");
        }
      }
    }
    auto p = std::unique_ptr<Peer>(new Peer);
    p->display_ = target->display;
    p->prefix_ = target->path_prefix;
    p->client_ = mtls ? std::make_unique<httplib::Client>(target->scheme_host_port,
                                                          cfg.client_cert_file,
                                                          cfg.client_key_file)
                      : std::make_unique<httplib::Client>(target->scheme_host_port);
    auto& c = *p->client_;
    c.set_keep_alive(true);
    c.set_tcp_nodelay(true);  // a request's header and body go out in separate writes
    p->compress_ = cfg.compress;  // request bodies: only the apply batches (see Call)
    c.set_decompress(cfg.compress);
    const auto us = [](double s) {
      return std::chrono::microseconds(static_cast<int64_t>(s * 1e6));
    };
    c.set_connection_timeout(us(cfg.connect_timeout_seconds));
    c.set_read_timeout(us(cfg.timeout_seconds));
    c.set_write_timeout(us(cfg.timeout_seconds));
    if (!cfg.api_key.empty()) c.set_bearer_token_auth(cfg.api_key.c_str());
    if (!cfg.ca_file.empty()) c.set_ca_cert_path(cfg.ca_file.c_str());
    return p;
  }

  // Lets `cancel` cut this peer's connection until the Peer is destroyed.
  void AttachCancel(CancelToken* cancel) {
    cancel_ = cancel;
    if (cancel_) cancel_->SetAbort([c = client_.get()] { c->stop(); });
  }
  ~Peer() {
    if (cancel_) cancel_->SetAbort(nullptr);
  }

  // Sends a request; returns the JSON answer of a 2xx, or the error (see replicator.h).
  // `bytes` accumulates the body sizes both ways.
  Result<json> Call(const char* method, const std::string& path, const json* body,
                    int64_t& bytes) {
    if (cancel_ && cancel_->cancelled()) return Cancelled(method, path);
    const std::string target = prefix_ + path;
    const std::string payload = body ? body->dump(-1, ' ', false, json::error_handler_t::replace)
                                     : std::string();
    const std::string m(method);
    // Servers accept compressed bodies only on POST /v1/sync/apply (a gzip bomb elsewhere would
    // be inflated before any check); answers may come compressed on every route.
    client_->set_compress(compress_ && m == "POST" && path == "/v1/sync/apply");
    httplib::Result res = m == "GET"    ? client_->Get(target.c_str())
                          : m == "POST" ? client_->Post(target.c_str(), payload, "application/json")
                                        : client_->Put(target.c_str(), payload, "application/json");
    bytes += static_cast<int64_t>(payload.size());
    if (cancel_ && cancel_->cancelled()) return Cancelled(method, path);
    if (!res) {
      return UnavailableError("peer " + display_ + " unreachable (" + httplib::to_string(res.error()) +
                              " on " + m + " " + path + "); check the URL and that it is "
                              "running, then sync again (it resumes from the checkpoint)");
    }
    bytes += static_cast<int64_t>(res->body.size());
    json j = json::parse(res->body, nullptr, false);
    if (res->status < 200 || res->status >= 300) {
      std::string msg;
      if (j.is_object() && j.contains("error") && j["error"].is_object() &&
          j["error"].contains("message") && j["error"]["message"].is_string()) {
        msg = j["error"]["message"].get<std::string>();
      }
      if (msg.size() > 500) msg.resize(utf8::FloorBoundary(msg, 500));
      return Status(CodeForHttp(res->status),
                    "peer " + display_ + " answered " + std::to_string(res->status) + " to " + m +
                        " " + path + (msg.empty() ? "" : ": " + msg));
    }
    if (j.is_discarded() || !j.is_object()) {
      return InvalidArgumentError("peer " + display_ + " sent a malformed answer to " + m + " " +
                                  path + " (not a JSON object)");
    }
    return j;
  }

  const std::string& display() const { return display_; }

 private:
  Peer() = default;
  Status Cancelled(const char* method, const std::string& path) const {
    return Status(StatusCode::kAborted, "sync with " + display_ + " stopped (shutting down) at " +
                                            method + " " + path + "; it resumes from the "
                                            "checkpoint next time");
  }
  std::string display_, prefix_;
  bool compress_ = true;
  std::unique_ptr<httplib::Client> client_;
  CancelToken* cancel_ = nullptr;
};

void Count(DirectionReport& d, const std::vector<kb::ApplyResult>& results,
           const std::vector<kb::SyncChange>& changes) {
  for (size_t i = 0; i < results.size(); ++i) {
    switch (results[i].outcome) {
      case kb::ApplyOutcome::kApplied: ++d.applied; break;
      case kb::ApplyOutcome::kIgnoredOlder:
      case kb::ApplyOutcome::kIgnoredDuplicate: ++d.ignored; break;
      case kb::ApplyOutcome::kConflictRecorded: ++d.conflicts; break;
      case kb::ApplyOutcome::kRejected:
        ++d.rejected;
        if (d.rejections.size() < 10) {
          d.rejections.push_back(changes[i].collection + "/" + changes[i].doc_id + ": " +
                                 results[i].reason);
        }
        break;
    }
  }
}

// A change rejected for now (its timestamp is too far ahead of the receiver's clock) must be
// sent again once the clocks agree, so the session stops before the checkpoint moves past its
// page; the changes of the page that did apply are ignored as duplicates next time.
Status RetryableRejections(const std::vector<kb::ApplyResult>& results,
                           const std::vector<kb::SyncChange>& changes, const std::string& receiver,
                           const std::string& sender) {
  for (size_t i = 0; i < results.size(); ++i) {
    if (results[i].outcome == kb::ApplyOutcome::kRejected && results[i].retry) {
      return UnavailableError(
          receiver + " refused " + changes[i].collection + "/" + changes[i].doc_id + " from " +
          sender + " for now (" + results[i].reason + "); fix the clocks (NTP) — the sync stops "
          "here and resumes from this point next time");
    }
  }
  return Status::Ok();
}

// A full pull remembers which documents the feed carried as 64-bit hashes of (collection,
// doc_id): 8 bytes per document. A collision can only make a document look carried, which keeps
// it (never prunes one the peer has).
uint64_t FeedKey(const std::string& collection, const std::string& doc_id) {
  std::string k;
  k.reserve(collection.size() + 1 + doc_id.size());
  k.append(collection).push_back('\0');
  k.append(doc_id);
  return std::hash<std::string>{}(k);
}

struct Session {
  kb::KnowledgeBase& local;
  const SyncOptions& opts;
  Peer& peer;
  SyncReport& report;
  json peer_info;

  std::string ReplicationId(Direction d) const {
    return report.local_node + "->" + report.peer_node + ":" + std::string(DirectionName(d));
  }
  bool Wanted(const std::string& collection) const {
    return opts.collections.empty() ||
           std::find(opts.collections.begin(), opts.collections.end(), collection) !=
               opts.collections.end();
  }
  std::string CheckpointPath(Direction d) const {
    return "/v1/sync/checkpoints/" + UrlEncode(ReplicationId(d));
  }
  Status PutPeerCheckpoint(Direction d, int64_t seq, int64_t& bytes) {
    const json body{{"last_seq", seq}, {"peer", report.local_node},
                    {"direction", DirectionName(d)}};
    return peer.Call("PUT", CheckpointPath(d), &body, bytes).status();
  }

  Status Pull() {
    DirectionReport& d = report.pull;
    d.ran = true;
    // Collections of the peer that we lack are created with its settings.
    std::set<std::string> peer_colls;
    for (const json& c : peer_info["collections"]) {
      if (!c.is_object() || !c.contains("name") || !c["name"].is_string()) continue;
      const std::string name = c["name"];
      peer_colls.insert(name);
      if (!Wanted(name)) continue;
      if (local.GetCollection(name).ok()) continue;
      kb::CreateCollectionRequest req;
      req.name = name;
      if (c.contains("embedder") && c["embedder"].is_string()) req.embedder = c["embedder"];
      if (c.contains("chunk_tokens") && c["chunk_tokens"].is_number_integer()) {
        req.chunk_tokens = c["chunk_tokens"];
      }
      if (c.contains("chunk_overlap") && c["chunk_overlap"].is_number_integer()) {
        req.chunk_overlap = c["chunk_overlap"];
      }
      auto made = local.CreateCollection(req);
      if (!made.ok() && made.status().code() != StatusCode::kAlreadyExists) {
        return made.status().WithContext("creating collection '" + name + "' from the peer");
      }
    }
    for (const auto& want : opts.collections) {
      if (!peer_colls.count(want)) {
        return NotFoundError("the peer " + peer.display() + " has no collection '" + want + "'");
      }
    }
    const std::string rid = ReplicationId(Direction::kPull);
    ASSIGN_OR_RETURN(auto cp, local.GetCheckpoint(rid));
    int64_t since = opts.full || !cp ? 0 : cp->last_seq;
    const bool full = opts.full || since == 0;
    d.from_seq = d.to_seq = since;
    auto peer_purged_hlc = InfoPurgedHlc(peer_info);
    if (!peer_purged_hlc.ok()) {
      return InvalidArgumentError("peer " + peer.display() +
                                  " sent a malformed /v1/sync/info "
                                  "answer: " +
                                  peer_purged_hlc.status().message());
    }
    // A full pull records every document its feed carries (live or tombstone, whatever the
    // outcome here), for the prune at the end.
    std::vector<uint64_t> in_feed;
    while (opts.max_pages == 0 || d.pages < opts.max_pages) {
      std::string path = "/v1/sync/changes?since=" + std::to_string(since) +
                         "&limit=" + std::to_string(opts.batch);
      for (const auto& c : opts.collections) path += "&collection=" + UrlEncode(c);
      if (full) {
        path += "&full=true";
      } else {
        path += "&exclude_node=" + report.local_node;
      }
      ASSIGN_OR_RETURN(json pj, peer.Call("GET", path, nullptr, d.bytes));
      ASSIGN_OR_RETURN(kb::ChangePage page, PageFromJson(pj));
      if (page.last_seq < since) {
        return InvalidArgumentError("peer " + peer.display() + " went backwards in its change "
                                    "feed (last_seq " + std::to_string(page.last_seq) + " < " +
                                    std::to_string(since) + ")");
      }
      ++d.pages;
      d.changes += static_cast<int64_t>(page.changes.size());
      if (full) {
        for (const auto& c : page.changes) in_feed.push_back(FeedKey(c.collection, c.doc_id));
      }
      ASSIGN_OR_RETURN(auto results, local.ApplyChanges(page.changes));
      Count(d, results, page.changes);
      RETURN_IF_ERROR(RetryableRejections(results, page.changes, "this node", peer.display()));
      for (size_t i = 0; i < results.size(); ++i) {
        if (results[i].outcome == kb::ApplyOutcome::kApplied) {
          report.newest_hlc = std::max(report.newest_hlc, page.changes[i].hlc);
        }
      }
      // Committed: now the checkpoint (here, then a copy on the peer for its status).
      since = page.last_seq;
      RETURN_IF_ERROR(local.PutCheckpoint({.replication_id = rid, .peer = opts.peer.url,
                                           .direction = "pull", .last_seq = since}));
      d.to_seq = since;
      if (Status s = PutPeerCheckpoint(Direction::kPull, since, d.bytes); !s.ok()) {
        spdlog::warn("sync: could not store the pull checkpoint on {}: {}", peer.display(),
                     s.ToString());
      }
      if (!page.more) {
        d.complete = true;
        break;
      }
    }
    if (full && d.complete) RETURN_IF_ERROR(Prune(peer_colls, *peer_purged_hlc, in_feed));
    return Status::Ok();
  }

  // The end of a complete full pull: documents here at or below the peer's tombstone horizon
  // that its whole feed did not carry are ones the peer deleted and purged (or never had and
  // would refuse); they go, and the peer's horizon is adopted (KnowledgeBase::
  // PruneAbsentFromSource). Only the collections this session pulled.
  Status Prune(const std::set<std::string>& peer_colls, uint64_t peer_purged_hlc,
               std::vector<uint64_t>& in_feed) {
    DirectionReport& d = report.pull;
    std::vector<std::string> colls;
    for (const auto& name : peer_colls) {
      if (Wanted(name)) colls.push_back(name);
    }
    std::sort(in_feed.begin(), in_feed.end());
    auto pruned = local.PruneAbsentFromSource(
        colls, peer_purged_hlc, [&](const std::string& coll, const std::string& doc_id) {
          return std::binary_search(in_feed.begin(), in_feed.end(), FeedKey(coll, doc_id));
        });
    if (!pruned.ok()) {
      return pruned.status().WithContext(
          "removing documents that the peer deleted beyond its "
          "tombstone horizon (the pulled changes are applied)");
    }
    d.pruned = pruned->documents;
    d.pruned_ids = pruned->examples;
    if (pruned->documents > 0) {
      std::string ids;
      for (const auto& id : pruned->examples) ids += (ids.empty() ? "" : ", ") + id;
      spdlog::warn(
          "sync: removed {} documents ({} tombstones) that peer {} deleted beyond its "
          "tombstone horizon (full resync): {}{}",
          pruned->documents, pruned->tombstones, peer.display(), ids,
          pruned->documents > static_cast<int64_t>(pruned->examples.size()) ? ", ..." : "");
    }
    return Status::Ok();
  }

  Status Push() {
    DirectionReport& d = report.push;
    d.ran = true;
    std::set<std::string> peer_colls;
    for (const json& c : peer_info["collections"]) {
      if (c.is_object() && c.contains("name") && c["name"].is_string()) peer_colls.insert(c["name"]);
    }
    ASSIGN_OR_RETURN(auto colls, local.ListCollections());
    std::vector<std::string> names;
    for (const auto& c : colls) {
      if (!Wanted(c.name)) continue;
      names.push_back(c.name);
      if (peer_colls.count(c.name)) continue;
      const json body{{"name", c.name}, {"embedder", c.embedder},
                      {"chunk_tokens", c.chunk_tokens}, {"chunk_overlap", c.chunk_overlap}};
      auto made = peer.Call("POST", "/v1/collections", &body, d.bytes);
      if (!made.ok() && made.status().code() != StatusCode::kAlreadyExists) {
        return made.status().WithContext("creating collection '" + c.name + "' on the peer");
      }
    }
    for (const auto& want : opts.collections) {
      if (std::find(names.begin(), names.end(), want) == names.end()) {
        return NotFoundError("this node has no collection '" + want + "' to push");
      }
    }
    const std::string rid = ReplicationId(Direction::kPush);
    // The peer's copy is authoritative (it was written after its commit); ours is a fallback.
    int64_t since = 0;
    auto remote_cp = peer.Call("GET", CheckpointPath(Direction::kPush), nullptr, d.bytes);
    if (remote_cp.ok()) {
      if ((*remote_cp)["last_seq"].is_number_integer()) since = (*remote_cp)["last_seq"];
    } else if (remote_cp.status().code() != StatusCode::kNotFound) {
      return remote_cp.status();
    }
    if (opts.full) since = 0;
    const bool full = opts.full || since == 0;
    d.from_seq = d.to_seq = since;
    kb::ChangesQuery q;
    q.limit = opts.batch;
    q.collections = opts.collections;
    q.full = full;
    if (!full) q.exclude_node = report.peer_node;
    while (opts.max_pages == 0 || d.pages < opts.max_pages) {
      q.after_seq = since;
      ASSIGN_OR_RETURN(kb::ChangePage page, local.ChangesSince(q));
      ++d.pages;
      d.changes += static_cast<int64_t>(page.changes.size());
      if (!page.changes.empty()) {
        json changes = json::array();
        for (const auto& c : page.changes) changes.push_back(ChangeToJson(c));
        const json body{{"node_id", report.local_node}, {"changes", std::move(changes)}};
        ASSIGN_OR_RETURN(json res, peer.Call("POST", "/v1/sync/apply", &body, d.bytes));
        std::vector<kb::ApplyResult> results;
        if (res.contains("results") && res["results"].is_array()) {
          for (const json& r : res["results"]) {
            kb::ApplyResult ar;
            const std::string o = r.value("outcome", "");
            for (auto oc : {kb::ApplyOutcome::kApplied, kb::ApplyOutcome::kIgnoredOlder,
                            kb::ApplyOutcome::kIgnoredDuplicate,
                            kb::ApplyOutcome::kConflictRecorded, kb::ApplyOutcome::kRejected}) {
              if (kb::ApplyOutcomeName(oc) == o) ar.outcome = oc;
            }
            ar.reason = r.value("reason", "");
            ar.retry = r.value("retry", false);
            results.push_back(std::move(ar));
          }
        }
        if (results.size() != page.changes.size()) {
          return InvalidArgumentError("peer " + peer.display() + " answered " +
                                      std::to_string(results.size()) + " results for " +
                                      std::to_string(page.changes.size()) + " changes");
        }
        Count(d, results, page.changes);
        RETURN_IF_ERROR(RetryableRejections(results, page.changes, "peer " + peer.display(),
                                            "this node"));
      }
      // The peer committed: checkpoint there first (authoritative), then here.
      since = page.last_seq;
      RETURN_IF_ERROR(PutPeerCheckpoint(Direction::kPush, since, d.bytes));
      RETURN_IF_ERROR(local.PutCheckpoint({.replication_id = rid, .peer = opts.peer.url,
                                           .direction = "push", .last_seq = since}));
      d.to_seq = since;
      if (!page.more) {
        d.complete = true;
        break;
      }
    }
    return Status::Ok();
  }
};

}  // namespace

void CancelToken::Cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  if (abort_) abort_();
}

bool CancelToken::cancelled() const {
  std::lock_guard<std::mutex> lock(mu_);
  return cancelled_;
}

void CancelToken::SetAbort(std::function<void()> abort) {
  std::lock_guard<std::mutex> lock(mu_);
  abort_ = std::move(abort);
}

Result<Direction> ParseDirection(std::string_view s) {
  if (s == "push") return Direction::kPush;
  if (s == "pull") return Direction::kPull;
  if (s == "both") return Direction::kBoth;
  return InvalidArgumentError("direction '" + std::string(s) + "': use push, pull or both");
}

std::string_view DirectionName(Direction d) {
  switch (d) {
    case Direction::kPush: return "push";
    case Direction::kPull: return "pull";
    case Direction::kBoth: return "both";
  }
  return "both";
}

json ReportToJson(const SyncReport& r) {
  const auto dir = [](const DirectionReport& d) -> json {
    if (!d.ran) return nullptr;
    return json{{"complete", d.complete},     {"from_seq", d.from_seq},   {"to_seq", d.to_seq},
                {"pages", d.pages},           {"changes", d.changes},     {"applied", d.applied},
                {"ignored", d.ignored},       {"conflicts", d.conflicts}, {"rejected", d.rejected},
                {"rejections", d.rejections}, {"bytes", d.bytes},         {"pruned", d.pruned},
                {"pruned_ids", d.pruned_ids}};
  };
  return json{{"local_node", r.local_node}, {"peer_node", r.peer_node},
              {"push", dir(r.push)},        {"pull", dir(r.pull)},
              {"newest_hlc", std::to_string(r.newest_hlc)}, {"seconds", r.seconds}};
}

Result<SyncReport> SyncOnce(kb::KnowledgeBase& local, const SyncOptions& opts) {
  SyncReport report;
  RETURN_IF_ERROR(SyncOnce(local, opts, report));
  return report;
}

Status SyncOnce(kb::KnowledgeBase& local, const SyncOptions& opts, SyncReport& report) {
  report = SyncReport{};
  const auto t0 = std::chrono::steady_clock::now();
  const auto finish = [&](Status s) {
    report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    return s;
  };
  if (opts.batch < 1 || opts.batch > 1000) {
    return InvalidArgumentError("sync batch must be between 1 and 1000 changes");
  }
  if (opts.max_pages < 0) return InvalidArgumentError("max_pages must not be negative");
  ASSIGN_OR_RETURN(auto peer, Peer::Create(opts.peer));
  peer->AttachCancel(opts.cancel);
  report.local_node = local.node_id();
  auto got = peer->Call("GET", "/v1/sync/info", nullptr, report.pull.bytes);
  if (!got.ok()) return finish(got.status());
  json info = std::move(got).value();
  if (!info.contains("node_id") || !info["node_id"].is_string() ||
      info.value("protocol", 0) != kProtocol || !info.contains("collections") ||
      !info["collections"].is_array()) {
    return InvalidArgumentError("peer " + peer->display() + " does not speak sync protocol " +
                                std::to_string(kProtocol) + " (bad /v1/sync/info answer)");
  }
  report.peer_node = info["node_id"];
  if (report.peer_node == report.local_node) {
    return InvalidArgumentError("the peer " + peer->display() + " is this node itself");
  }
  Session s{local, opts, *peer, report, std::move(info)};
  if (opts.direction != Direction::kPush) {
    if (Status st = s.Pull(); !st.ok()) return finish(st.WithContext("pull"));
  }
  if (opts.direction != Direction::kPull) {
    if (Status st = s.Push(); !st.ok()) return finish(st.WithContext("push"));
  }
  return finish(Status::Ok());
}

}  // namespace deepkb::sync
