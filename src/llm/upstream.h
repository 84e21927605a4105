// LlmUpstream: one chat-completion engine (DeepSeek's API, vLLM, SGLang, TensorRT-LLM, llama.cpp
// server, Ollama — or, later, an in-process engine). The interface carries no HTTP details: a
// request is the OpenAI chat JSON, a streamed answer is a sequence of ChatEvents, a failure is a
// Status with a canonical code that says whether trying again can help:
//   Unavailable        the engine could not be reached, failed (5xx), or cut the stream: retryable
//   ResourceExhausted  the engine is overloaded (HTTP 429): retryable after a pause
//   Internal           the engine answered something malformed: try another engine, not this one
//   DeadlineExceeded   the caller's deadline passed (or the engine hung past it)
//   Aborted            the caller's callback returned false (cancelled)
//   InvalidArgument, Unauthenticated, PermissionDenied, NotFound: the request or credentials are
//                      wrong; no engine will answer differently; never retried
// Implementations fill CallInfo::retry_after_seconds when the engine sent a retry hint.
//
// Thread safety: Complete() and Stream() may run concurrently from many threads. An upstream
// never retries by itself (the Router does); it never logs the API key or message contents.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/status.h"

namespace deepkb::llm {

using Clock = std::chrono::steady_clock;
using Deadline = Clock::time_point;

// Configuration of one upstream (one entry of the gateway's upstream list).
struct UpstreamConfig {
  std::string name;      // unique, used in metrics labels and messages ("deepseek", "vllm-a")
  std::string base_url;  // http(s)://host[:port][/prefix][/v1]; "/v1/chat/completions" is added
  // The API key: read from `api_key_file` (whitespace trimmed) if set, else from the environment
  // variable named `api_key_env` if set; neither → no Authorization header. Never logged.
  std::string api_key_file;
  std::string api_key_env;
  std::vector<std::string> models;  // model names this upstream serves (routing key)
  double connect_timeout_seconds = 5;
  // Longest silence tolerated while waiting for the answer or between stream chunks.
  double read_timeout_seconds = 120;
  int max_concurrency = 16;  // upper bound of the adaptive concurrency limit
  int priority = 0;          // failover order: lower value is tried first
  // Ask for usage in streams (`stream_options.include_usage`); turn off for engines that reject
  // the field.
  bool stream_include_usage = true;
};

// An OpenAI chat completion request. `body` is the request JSON as the client sent it
// (messages, temperature, max_tokens, ...); the upstream sets "model" from `model` and "stream"
// itself. `priority` orders requests waiting in admission queues (higher first).
struct ChatRequest {
  nlohmann::json body = nlohmann::json::object();
  std::string model;
  int priority = 0;
};

struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
  int64_t total_tokens = 0;
};

// One piece of a streamed answer.
struct ChatEvent {
  enum class Kind {
    kContent,    // `text` is a delta of choices[].delta.content
    kReasoning,  // `text` is a delta of reasoning_content (DeepSeek-R1 style)
    kFinish,     // `finish_reason` ("stop", "length", ...) for choice `index`
    kUsage,      // `usage` (usually last)
  };
  Kind kind = Kind::kContent;
  int index = 0;  // choice index
  std::string text;
  std::string finish_reason;
  Usage usage;
};

// Returns false to cancel the stream (the call then ends with Aborted).
using EventCallback = std::function<bool(const ChatEvent&)>;

// A whole (non-streamed) answer for choice 0.
struct ChatResponse {
  std::string id;
  std::string model;
  std::string content;
  std::string reasoning_content;
  std::string finish_reason;
  bool has_usage = false;
  Usage usage;
  std::string upstream;  // name of the upstream that answered
};

// Side information about one call (out-parameter, may be null).
struct CallInfo {
  double retry_after_seconds = -1;  // the engine's retry hint on 429/503; -1 if none
  bool first_event_seen = false;    // at least one event was produced
  double time_to_first_event_seconds = -1;
  // The engine sent nothing for read_timeout_seconds (it hangs): retrying the same engine would
  // likely cost another timeout, so the Router fails over instead.
  bool hung = false;
};

class LlmUpstream {
 public:
  virtual ~LlmUpstream() = default;

  virtual const UpstreamConfig& config() const = 0;

  // Non-streamed completion. Returns the answer, or an error as listed in the header comment.
  virtual Result<ChatResponse> Complete(const ChatRequest& request, Deadline deadline,
                                        CallInfo* info = nullptr) = 0;

  // Streamed completion: calls `on_event` (on the calling thread) for each event in order.
  // OK when the engine finished the stream ([DONE]); otherwise an error — possibly after some
  // events were delivered (see CallInfo::first_event_seen).
  virtual Status Stream(const ChatRequest& request, Deadline deadline,
                        const EventCallback& on_event, CallInfo* info = nullptr) = 0;
};

}  // namespace deepkb::llm
