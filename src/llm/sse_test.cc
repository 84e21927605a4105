#include "llm/sse.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace deepkb::llm {
namespace {

std::vector<std::string> FeedInPieces(const std::string& text, size_t piece) {
  std::vector<std::string> got;
  SseParser p([&](std::string_view d) {
    got.emplace_back(d);
    return true;
  });
  for (size_t i = 0; i < text.size(); i += piece) {
    EXPECT_TRUE(p.Feed(std::string_view(text).substr(i, piece)));
  }
  return got;
}

TEST(SseParser, EventsSurviveAnyChunkBoundary) {
  const std::string text =
      ": keep-alive\r\n\r\n"
      "event: message\r\ndata: {\"a\":1}\r\n\r\n"
      "data: line1\ndata: line2\n\n"
      "id: 7\rdata:nospace\r\r"
      "data: [DONE]\n\n"
      "data: unterminated";
  const std::vector<std::string> want = {"{\"a\":1}", "line1\nline2", "nospace", "[DONE]"};
  for (size_t piece = 1; piece <= text.size(); ++piece) {
    EXPECT_EQ(FeedInPieces(text, piece), want) << "piece size " << piece;
  }
}

TEST(SseParser, StopsWhenCallbackSaysSo) {
  int n = 0;
  SseParser p([&](std::string_view) { return ++n < 1; });
  EXPECT_FALSE(p.Feed("data: 1\n\ndata: 2\n\n"));
  EXPECT_EQ(n, 1);
}

TEST(ParseChunk, ContentReasoningFinishUsage) {
  std::vector<ChatEvent> ev;
  ASSERT_TRUE(ParseChunk(R"({"choices":[{"index":0,"delta":{"reasoning_content":"think"}}]})", ev)
                  .ok());
  ASSERT_TRUE(ParseChunk(R"({"choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]})",
                         ev)
                  .ok());
  ASSERT_TRUE(ParseChunk(R"({"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]})", ev).ok());
  ASSERT_TRUE(ParseChunk(
                  R"({"choices":[],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}})",
                  ev)
                  .ok());
  ASSERT_EQ(ev.size(), 4u);
  EXPECT_EQ(ev[0].kind, ChatEvent::Kind::kReasoning);
  EXPECT_EQ(ev[0].text, "think");
  EXPECT_EQ(ev[1].kind, ChatEvent::Kind::kContent);
  EXPECT_EQ(ev[1].text, "hi");
  EXPECT_EQ(ev[2].kind, ChatEvent::Kind::kFinish);
  EXPECT_EQ(ev[2].finish_reason, "stop");
  EXPECT_EQ(ev[3].kind, ChatEvent::Kind::kUsage);
  EXPECT_EQ(ev[3].usage.total_tokens, 5);
}

TEST(ParseChunk, MalformedAndErrorChunks) {
  std::vector<ChatEvent> ev;
  EXPECT_EQ(ParseChunk("{\"choices\": [", ev).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseChunk("[1,2]", ev).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ParseChunk(R"({"error":{"message":"engine died"}})", ev).code(),
            StatusCode::kUnavailable);
  // Wrong types inside are ignored, not fatal.
  EXPECT_TRUE(ParseChunk(R"({"choices":[{"delta":{"content":5}}],"usage":null})", ev).ok());
  EXPECT_TRUE(ev.empty());
}

}  // namespace
}  // namespace deepkb::llm
