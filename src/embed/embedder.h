// Embedder: turns texts into fixed-size float vectors for the vector index.
//
// Implementations:
//  - "ngram-hash" (default, no model): hashed character n-grams (1-3 for CJK, 3-5 for other
//    scripts, over NFKC+casefolded text) into `dim` buckets with signed hashing, L2-normalised.
//    It captures spelling and sub-word overlap, NOT meaning: "car" and "automobile" are far
//    apart. The docs say so.
//  - "openai:MODEL@URL": any OpenAI-compatible POST {URL}/v1/embeddings server (vLLM, Ollama,
//    text-embeddings-inference, llama.cpp server) with batching, retries with backoff on
//    connect errors/429/5xx, and timeouts. The API key comes from the environment
//    (DEEPKB_EMBED_API_KEY) and is never logged.
//
// Contract: Embed() returns exactly one vector of dim() floats per input text, all finite and
// non-zero, or an error — never a partial result. Server problems map to Unavailable (down,
// timed out, 5xx after retries), ResourceExhausted (429 after retries), InvalidArgument
// (garbage responses, wrong count or dimension, NaN/Inf) with messages naming the server.
// Thread safety: Embed() may be called concurrently.
// Interfaces stay free of HTTP details so an in-process model can implement them later.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace deepkb::embed {

class Embedder {
 public:
  virtual ~Embedder() = default;
  // The spec string it was created from ("ngram-hash", "ngram-hash:384",
  // "openai:bge-m3@http://h:8000").
  virtual const std::string& spec() const = 0;
  // Output dimension. For remote embedders this is discovered by the first call (Probe()).
  virtual size_t dim() const = 0;
  virtual Result<std::vector<std::vector<float>>> Embed(const std::vector<std::string>& texts) = 0;
};

struct EmbedderOptions {
  double timeout_seconds = 30;  // remote: connect timeout and per-read/-write timeout
  int max_retries = 3;          // remote: extra attempts after the first (0..10)
  size_t max_batch = 64;        // texts per request to a remote server
  // Remote retry pacing: the n-th retry waits about retry_backoff_seconds * 2^(n-1) (with
  // jitter, at most retry_backoff_max_seconds); a Retry-After from the server (429/503) is
  // honoured instead, up to retry_after_max_seconds.
  double retry_backoff_seconds = 0.25;
  double retry_backoff_max_seconds = 8;
  double retry_after_max_seconds = 30;
};

// Parses a spec and creates the embedder; InvalidArgument for unknown specs. For remote
// embedders this does not contact the server; call Probe() to learn the dimension.
Result<std::unique_ptr<Embedder>> MakeEmbedder(const std::string& spec,
                                               const EmbedderOptions& opts = {});

// Embeds one short text to check the embedder works and learn its dimension.
Result<size_t> Probe(Embedder& embedder);

}  // namespace deepkb::embed
