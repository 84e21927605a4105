// OpenAiUpstream: LlmUpstream over HTTP(S) for every engine that speaks OpenAI's chat API.
//
// Wire format:
//   POST {base}/v1/chat/completions   Content-Type: application/json
//   Authorization: Bearer KEY          (only when a key is configured; never logged)
//   the request body with "model" = ChatRequest::model and "stream" = false | true; streamed
//   requests also get "stream_options": {"include_usage": true} unless the caller set
//   stream_options or UpstreamConfig::stream_include_usage is false.
// Non-streamed answers: {"id", "model", "choices": [{"message": {"content",
// "reasoning_content"?}, "finish_reason"}], "usage"?}. Streamed answers: SSE (see sse.h),
// "data: {chunk}" events ending with "data: [DONE]".
//
// Errors (see upstream.h for the meaning of each code):
//   connect failure/timeout, write error, connection lost, HTTP 5xx/408, stream ended without
//   [DONE] or cut mid-way, "error" object inside the stream     → Unavailable
//   HTTP 429                                                     → ResourceExhausted
//   malformed JSON (whole answer or any chunk), SSE line > 8 MiB,
//   non-streamed answer > 64 MiB                                 → Internal
//   no byte within read_timeout_seconds (hang)                   → Unavailable ("did not answer")
//   the caller's deadline passed (reads are capped by it)        → DeadlineExceeded
//   on_event returned false                                      → Aborted
//   401 Unauthenticated, 403 PermissionDenied, 404 NotFound, other 4xx InvalidArgument.
// Retry-After (seconds form) on 429/503 is reported in CallInfo. Messages name the upstream and
// carry at most 200 bytes of the engine's own error text.
// Thread safety: all methods may run concurrently; keep-alive connections come from a small pool.
#pragma once

#include <memory>

#include "common/status.h"
#include "llm/upstream.h"

namespace deepkb::llm {

// Reads the configured API key (file first, then environment); "" when none is configured.
// FailedPrecondition when the file cannot be read or the variable is unset or empty.
Result<std::string> LoadApiKey(const UpstreamConfig& config);

// Validates `config` (name, URL, timeouts, concurrency) and loads the API key. Does not contact
// the engine.
Result<std::unique_ptr<LlmUpstream>> CreateOpenAiUpstream(const UpstreamConfig& config);

}  // namespace deepkb::llm
