// RemoteKb: search on a remote KB node (another `deepkb serve`) over HTTP(S), with its own API
// key, timeouts, and fallback to a configured replica (the cloud copy kept by sync) when the
// primary cannot answer. docs/remote_kb.md describes the configuration and the behaviour.
//
// Wire: POST {url}/v1/collections/{collection}/search with
//   {"query", "mode", "top_k", "filter"?, "fusion"?, "ef"?}
// and `Authorization: Bearer <key>`; the answer must be 2xx
//   {"hits": [{"doc_id", "chunk_id", "score", "text", "keyword_rank"?, "vector_rank"?,
//              "highlight"?, "title"?, "source"?, "page"?, "heading_path"?, "metadata"?}], ...}
// Unknown fields are ignored; a missing required field, a field of the wrong type, or invalid
// JSON makes the answer malformed (Internal). Answers over 16 MiB are refused (also Internal).
// At most `top_k` hits are kept.
//
// Which failures fall back to the replica (the endpoint "cannot answer now"):
//   connect failure or connect timeout, TLS handshake or certificate failure, connection lost,
//   no complete answer within timeout_seconds, HTTP 5xx, 408, 429, a malformed or oversized
//   answer.
// Which do not (the primary answered deliberately; a replica would say the same): HTTP 400
//   (InvalidArgument), 401 (Unauthenticated), 403 (PermissionDenied), 404 (NotFound), 413
//   (TooLarge), any other status (FailedPrecondition). The message is the remote's own error
//   text (at most 300 bytes), prefixed by the KB name and URL.
// Without a replica the primary's failure is returned: Unavailable (unreachable, 5xx, timeout),
// ResourceExhausted (429) or Internal (malformed). With a replica that fails too (in any way):
// Unavailable naming both failures. The caller's deadline caps every timeout; when it is the
// limit that cut a call, or it passes before the replica can be asked: DeadlineExceeded.
//
// Timeouts: connect_timeout_seconds bounds the TCP + TLS connect; timeout_seconds bounds one
// endpoint's whole call (each socket read waits at most that long, and the body must be complete
// by then). So a hung primary costs at most timeout_seconds before the replica is asked.
//
// Thread safety: Search() may run concurrently from many threads; each endpoint keeps a small
// pool of keep-alive connections. Keys are read once by Create() and never logged or put in a
// Status message. A fallback is logged at warn (names and URLs only).
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "kb/kb.h"

namespace deepkb::gateway {

struct KbEndpoint {
  std::string url;           // http(s)://host[:port][/prefix]; a trailing "/" or "/v1" is dropped
  std::string api_key_file;  // key read from this file (whitespace trimmed), else ...
  std::string api_key_env;   // ... from this environment variable; neither: no key is sent
  std::string ca_file;       // PEM bundle to verify an https server ("" = the system store)
};

struct RemoteKbConfig {
  std::string name;  // 1-64 of [A-Za-z0-9_.-], starting alphanumeric; messages, citations, labels
  KbEndpoint primary;
  std::optional<KbEndpoint> replica;  // the replica kept up to date by sync
  double connect_timeout_seconds = 2;
  double timeout_seconds = 5;  // one endpoint's whole search call
};

// Parses the command-line form used by `deepkb serve --remote-kb` and `deepkb ask`:
//   NAME=URL[,key-file=F][,key-env=VAR][,ca=F][,replica=URL][,replica-key-file=F]
//          [,replica-key-env=VAR][,replica-ca=F][,timeout=SECONDS][,connect-timeout=SECONDS]
// Values cannot contain ','. InvalidArgument naming the problem for a bad name or URL, an
// unknown, repeated or empty attribute, replica-* without replica=, a number that is not in
// (0, 600]. Reads no files (RemoteKb::Create does).
Result<RemoteKbConfig> ParseRemoteKbFlag(std::string_view flag);

struct RemoteSearchResult {
  std::vector<kb::SearchHit> hits;
  bool used_replica = false;
  // "" when the primary answered; else e.g. "knowledge base 'hq' unreachable (cannot connect);
  // answered from its replica https://replica.cloud:8443".
  std::string note;
};

class RemoteKb {
 public:
  using Clock = std::chrono::steady_clock;

  // Validates the config (InvalidArgument: name, URLs, timeouts, ca= on an http URL), checks
  // that CA files are readable and loads the keys (FailedPrecondition: a configured key file is
  // unreadable or empty, a configured variable is unset or empty, a CA file is unreadable).
  // Does not contact the nodes.
  static Result<std::unique_ptr<RemoteKb>> Create(RemoteKbConfig config);
  ~RemoteKb();

  const RemoteKbConfig& config() const { return config_; }

  // Searches `req.collection` as described at the top of this file. InvalidArgument, without a
  // request, for a bad collection name or a filter that is not a JSON object;
  // DeadlineExceeded when `deadline` has passed already.
  Result<RemoteSearchResult> Search(const kb::SearchRequest& req, Clock::time_point deadline);

  // Checks one 2xx answer body and returns at most `top_k` hits (top_k <= 0: all); otherwise
  // Internal saying what is wrong ("hit 2: \"score\" is missing ..."). Exposed for tests.
  static Result<std::vector<kb::SearchHit>> ParseSearchResponse(std::string_view body, int top_k);

 private:
  struct Endpoint;  // parsed URL, key, connection pool (keeps HTTP client types out of here)
  struct Attempt;
  explicit RemoteKb(RemoteKbConfig config);
  // One call to one endpoint; `collection` is already percent-encoded.
  Attempt Ask(Endpoint& ep, const std::string& collection, const std::string& body, int top_k,
              Clock::time_point deadline);

  const RemoteKbConfig config_;
  std::unique_ptr<Endpoint> primary_;
  std::unique_ptr<Endpoint> replica_;  // null without a replica
};

}  // namespace deepkb::gateway
