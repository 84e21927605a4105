// Server-sent events (text/event-stream) parsing for streamed chat completions.
//
// SseParser takes the body in arbitrary pieces (chunk boundaries may fall anywhere, also inside
// a CRLF) and calls `on_data` once per complete event with its data: the "data:" lines of the
// event joined by "\n" (one optional space after the colon removed). Lines end with "\n", "\r\n"
// or "\r". Comment lines (":" keep-alives) and the fields event/id/retry are ignored; an event is
// complete at a blank line; an unterminated event at the end is dropped (SSE rules).
// ParseChunk() turns one chat.completion.chunk JSON text into ChatEvents.
// Thread safety: an SseParser is used by one thread at a time.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"
#include "llm/upstream.h"

namespace deepkb::llm {

class SseParser {
 public:
  // Returns false to stop parsing (Feed then returns false at once).
  using DataFn = std::function<bool(std::string_view data)>;
  explicit SseParser(DataFn on_data) : on_data_(std::move(on_data)) {}

  // Feeds more bytes; false when on_data asked to stop or a line exceeded kMaxLineBytes.
  bool Feed(std::string_view bytes);
  bool overflowed() const { return overflowed_; }

  static constexpr size_t kMaxLineBytes = 8 << 20;

 private:
  bool Line(std::string_view line);

  DataFn on_data_;
  std::string line_;        // the current unterminated line
  std::string data_;        // data of the current event
  bool has_data_ = false;
  bool after_cr_ = false;   // the previous byte was '\r' (a following '\n' belongs to it)
  bool overflowed_ = false;
};

// Parses one chunk ("choices": [{"index", "delta": {"content", "reasoning_content"},
// "finish_reason"}], "usage"?) into events, appending to `out`. InvalidArgument when the text is
// not JSON or not an object; Unavailable when the chunk carries an "error" object (engines
// report failures mid-stream that way).
Status ParseChunk(std::string_view json_text, std::vector<ChatEvent>& out);

}  // namespace deepkb::llm
