// Gateway: the LLM half of `deepkb serve` — OpenAI-compatible /v1/models, /v1/chat/completions
// and /v1/embeddings in front of the llm::Router, with retrieval from the local KB and from
// remote KB nodes (docs/gateway.md, CONTRACT.md).
//
// Model resolution for a chat request (`model` field):
//   1. a knowledge alias (configured: alias → upstream model + collections + retrieval settings):
//      retrieval over the alias's collections (plus any in the request's `knowledge` field), then
//      the upstream model; when no upstream is configured for it, or every upstream serving it is
//      down (Unavailable: unreachable, failing, breaker open), the answer is extractive and the
//      response's `model` says "extractive".
//   2. a model an upstream serves: passed through; with a `knowledge` field, retrieval first. A
//      failure is returned as an error (the caller asked for that model: no silent substitute).
//   3. "extractive": retrieval only, the extractive answer (needs `knowledge` collections).
//   4. anything else: NotFound listing what GET /v1/models offers. An absent `model` is
//      InvalidArgument.
// Collections are named "C" (the local KB) or "KB/C" (collection C of the remote KB node named
// KB, see kb_client.h). The caller's key must see each one (auth::Principal::CanSee with that
// name; PermissionDenied otherwise) — a reader scoped to "docs" cannot retrieve from "hr".
//
// Errors before the first byte of an answer keep their HTTP meaning (400 bad request, 404 unknown
// model, 429/503 with Retry-After from the router's admission, 502/503 upstream failures); once a
// streamed answer has started, a failure ends the stream with an `error` chunk and no [DONE].
//
// Thread safety: all methods may be called concurrently once Create() returned.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "auth/audit.h"
#include "auth/policy.h"
#include "common/status.h"
#include "gateway/kb_client.h"
#include "kb/kb.h"
#include "llm/router.h"
#include "llm/upstream.h"
#include "metrics/registry.h"
#include "server/http.h"

namespace deepkb::gateway {

// One upstream engine as configured on the command line:
//   --upstream NAME=URL[,model=M]...[,key-env=VAR][,key-file=F][,priority=N]
//              [,max-concurrency=N][,tokenizer=F][,context=N][,timeout=S][,connect-timeout=S]
//              [,stream-usage=true|false]
// Without model= the upstream serves the model named NAME. tokenizer= is the model's Hugging Face
// tokenizer.json (exact token counts for packing; without it a conservative estimate is used);
// context= the model's context window in tokens (default GatewayConfig::default_context_tokens).
struct UpstreamSpec {
  llm::UpstreamConfig config;
  std::string tokenizer_file;
  size_t context_tokens = 0;  // 0 = GatewayConfig::default_context_tokens
};
Result<UpstreamSpec> ParseUpstreamFlag(std::string_view flag);

// A knowledge alias:
//   --knowledge-alias ALIAS=MODEL[,collection=C]...[,top-k=N][,mode=auto|hybrid|keyword|vector]
// MODEL is the upstream model it answers with ("extractive" for retrieval-only aliases).
struct KnowledgeAlias {
  std::string name;
  std::string model;
  std::vector<std::string> collections;  // "C" or "KB/C"
  int top_k = 8;
  std::string mode = "auto";
};
Result<KnowledgeAlias> ParseAliasFlag(std::string_view flag);

struct GatewayConfig {
  std::vector<UpstreamSpec> upstreams;
  std::vector<KnowledgeAlias> aliases;
  std::vector<RemoteKbConfig> remote_kbs;
  llm::RouterConfig router;
  double request_timeout_seconds = 600;  // deadline of one chat request (queueing included)
  size_t default_context_tokens = 32768;
  size_t answer_reserve_tokens = 2048;   // kept free for the answer when max_tokens is not set
  int default_top_k = 8;                 // `knowledge` requests without top_k
  size_t max_passages = 8;               // passages given to the model at most
};

// The answer of one chat request, OpenAI-shaped (see docs/gateway.md for the extra fields).
//   stream == false: `emit` is called once with the whole chat.completion object.
//   stream == true:  `emit` is called with each chat.completion.chunk object, in order; the
//                    caller writes them as SSE `data:` lines and ends with `data: [DONE]` when
//                    Chat returned OK. After an error returned with `*started` true, the caller
//                    writes the error object as a last `data:` line instead.
// `emit` returns false when the client has gone (the request is then cancelled).
using ChunkSink = std::function<bool(const nlohmann::json& object)>;

class Gateway {
 public:
  // Creates the upstream clients (OpenAI-compatible; `upstreams` overrides them for tests, one
  // per config entry, in order), loads tokenizers and remote KB keys. `kb` may be null (a gateway
  // without a local KB); `registry` may be null (no metrics); both must outlive the Gateway.
  // InvalidArgument for inconsistent configuration (duplicate names, an alias naming a model no
  // upstream serves while upstreams exist, a collection of an unknown remote KB).
  static Result<std::unique_ptr<Gateway>> Create(
      GatewayConfig config, kb::KnowledgeBase* kb, metrics::Registry* registry,
      std::vector<std::unique_ptr<llm::LlmUpstream>> upstreams = {});
  ~Gateway();

  // One chat request (the OpenAI JSON body). `started` is set once the first emit happened.
  Status Chat(const auth::Principal& who, const nlohmann::json& request, const ChunkSink& emit,
              bool* started, double* retry_after_seconds = nullptr);

  // GET /v1/models: upstream models, the aliases the caller may use (collections it can see),
  // and "extractive".
  nlohmann::json Models(const auth::Principal& who) const;

  // POST /v1/embeddings: {"model": collection | "default", "input": string | [string]}.
  Result<nlohmann::json> Embeddings(const auth::Principal& who, const nlohmann::json& request);

  // The HTTP routes (permission kRead): /v1/models, /v1/chat/completions (SSE when "stream"),
  // /v1/embeddings. With `audit`, in-handler scope denials are recorded.
  std::vector<server::Route> Routes(auth::AuditLog* audit = nullptr);

  const GatewayConfig& config() const;
  bool has_upstreams() const;

 private:
  struct Impl;
  explicit Gateway(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// Splits "KB/C" into {"KB", "C"}; a plain "C" gives {"", "C"}.
std::pair<std::string, std::string> SplitCollectionRef(std::string_view ref);

}  // namespace deepkb::gateway
