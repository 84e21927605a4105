// OpenAiEmbedder: "openai:MODEL@URL" — any server that speaks OpenAI's embeddings API
// (OpenAI, vLLM, Ollama, text-embeddings-inference, llama.cpp server, SGLang).
//
// Wire format (one request per batch of at most EmbedderOptions::max_batch texts, sent one
// after another):
//   POST {base}/v1/embeddings   Content-Type: application/json
//   Authorization: Bearer $DEEPKB_EMBED_API_KEY   (only when that variable is set and non-empty)
//   {"model": MODEL, "input": ["text", ...]}
// An empty text is sent as " " (OpenAI rejects ""); invalid UTF-8 is replaced by U+FFFD.
// The answer must be HTTP 2xx with
//   {"data": [{"index": i, "embedding": [float, ...]}, ...], ...}
// and is checked strictly: valid JSON, "data" an array with exactly one object per input,
// every "index" an integer in [0, n) used once (results are reordered by it), every "embedding"
// a non-empty array of numbers of the same length, finite as float, not all zero, and the same
// length as every earlier answer (the dimension is learned from the first good answer). Any
// violation is InvalidArgument naming the server and what was wrong; it is not retried.
//
// URL: http://host[:port][/prefix] or https://...; a trailing "/" or "/v1" is dropped, so
// "http://h:8000", "http://h:8000/" and "http://h:8000/v1" are the same server. No user info,
// query or fragment. The model is everything between "openai:" and the "@http(s)://" that
// starts the URL, so model names may contain ':' and '/' ("nomic-embed-text:latest",
// "BAAI/bge-m3").
//
// Failures and retries (each retry waits with exponential backoff and jitter, or the server's
// Retry-After on 429/503, capped; see EmbedderOptions):
//   - connection refused/reset, connect timeout, write errors, a read that fails before the
//     timeout: retried, then Unavailable;
//   - no answer within timeout_seconds (read timeout): Unavailable at once, not retried, so a
//     hung server costs about one timeout, not (retries+1) of them;
//   - 5xx (except 501): retried, then Unavailable; 429: retried, then ResourceExhausted;
//   - 401 Unauthenticated, 403 PermissionDenied, 404 NotFound, 413 TooLarge, other 4xx/501
//     InvalidArgument — never retried. The message carries at most 200 bytes of the server's
//     own error text.
// timeout_seconds bounds the connect and each socket read/write, not a whole slow transfer.
// Neither the API key nor the texts ever appear in logs or Status messages.
// Thread safety: Embed() may run concurrently; connections come from a small internal pool.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "embed/embedder.h"

namespace deepkb::embed {

// The parsed form of the part after "openai:".
struct OpenAiTarget {
  std::string model;
  std::string scheme_host_port;  // "http://127.0.0.1:8000"
  std::string path_prefix;       // "" or "/openai" (never ends with "/" or "/v1")
  std::string display;           // scheme_host_port + path_prefix, for messages
};

// Parses "MODEL@URL"; InvalidArgument with the reason and an example otherwise.
Result<OpenAiTarget> ParseOpenAiTarget(std::string_view model_at_url);

class OpenAiEmbedder final : public Embedder {
 public:
  // Validates the spec ("openai:MODEL@URL") and options; reads DEEPKB_EMBED_API_KEY once.
  // Does not contact the server.
  static Result<std::unique_ptr<OpenAiEmbedder>> Create(std::string spec,
                                                        const EmbedderOptions& opts);
  ~OpenAiEmbedder() override;

  const std::string& spec() const override { return spec_; }
  // 0 until the first successful Embed() (see Probe()).
  size_t dim() const override { return dim_.load(std::memory_order_acquire); }
  // All texts or an error (see the header comment); an empty input returns an empty result
  // without a request.
  Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts) override;

  const OpenAiTarget& target() const { return target_; }

  // Checks one response body against `n` inputs and the dimension learned so far (0: none);
  // on success returns the vectors in input order. Exposed for tests.
  static Result<std::vector<std::vector<float>>> ParseResponse(std::string_view body, size_t n,
                                                               size_t expected_dim,
                                                               std::string_view server);

 private:
  struct Pool;  // keeps HTTP client types out of this header
  OpenAiEmbedder(std::string spec, OpenAiTarget target, const EmbedderOptions& opts,
                 std::string api_key);

  // One batch with retries.
  Result<std::vector<std::vector<float>>> EmbedBatch(const std::vector<std::string>& texts,
                                                     size_t begin, size_t end);

  const std::string spec_;
  const OpenAiTarget target_;
  const EmbedderOptions opts_;
  const std::string api_key_;   // never logged
  std::atomic<size_t> dim_{0};  // learned from the first good answer; then fixed
  std::unique_ptr<Pool> pool_;
};

}  // namespace deepkb::embed
