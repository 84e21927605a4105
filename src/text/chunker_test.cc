#include "text/chunker.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

#include "common/utf8.h"

namespace deepkb::text {
namespace {

Block Para(std::string text, int page = 0) {
  Block b;
  b.kind = Block::Kind::kParagraph;
  b.text = std::move(text);
  b.page = page;
  return b;
}

Block Heading(int level, std::string text, int page = 0) {
  Block b;
  b.kind = Block::Kind::kHeading;
  b.level = level;
  b.text = std::move(text);
  b.page = page;
  return b;
}

ParsedDocument Doc(std::vector<Block> blocks) {
  ParsedDocument d;
  d.format = Format::kMarkdown;
  d.blocks = std::move(blocks);
  return d;
}

std::string Repeat(std::string_view s, size_t n) {
  std::string out;
  out.reserve(s.size() * n);
  for (size_t i = 0; i < n; ++i) out.append(s);
  return out;
}

bool IsSpace(char c) { return c == ' ' || (c >= '\t' && c <= '\r'); }

size_t ByteCounter(std::string_view s) { return s.size(); }
size_t CodePointCounter(std::string_view s) { return utf8::CodePointCount(s); }

// Checks every documented invariant of ChunkDocument's output for `doc`.
void CheckInvariants(const ParsedDocument& doc, const std::vector<Chunk>& chunks,
                     const ChunkOptions& opts, const TokenCounter& count = EstimateTokens) {
  const std::string text = ExtractedText(doc);
  ASSERT_TRUE(utf8::IsValid(text));
  // Byte offset of every code point (plus the end).
  std::vector<size_t> byte_at;
  byte_at.reserve(text.size() + 1);
  for (size_t i = 0; i < text.size();) {
    byte_at.push_back(i);
    utf8::Decode(text, i);
  }
  byte_at.push_back(text.size());
  const size_t cps = byte_at.size() - 1;

  // Page of every code point (separators: 0 marker, never inside a chunk of another page).
  std::vector<int> page_at(cps, -1);
  {
    size_t cp = 0;
    for (size_t b = 0; b < doc.blocks.size(); ++b) {
      if (b > 0) cp += 2;
      const size_t n = utf8::CodePointCount(doc.blocks[b].text);
      for (size_t k = 0; k < n; ++k) page_at[cp + k] = doc.blocks[b].page;
      cp += n;
    }
    ASSERT_EQ(cp, cps);
  }

  std::vector<int> cover(cps + 1, 0);
  const size_t max_tokens = std::max<size_t>(opts.max_tokens, 1);
  const size_t overlap = std::min(opts.overlap_tokens, max_tokens / 2);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const Chunk& c = chunks[i];
    SCOPED_TRACE("chunk " + std::to_string(i));
    ASSERT_LT(c.char_start, c.char_end);
    ASSERT_LE(c.char_end, cps);
    const size_t b = byte_at[c.char_start];
    const size_t e = byte_at[c.char_end];
    ASSERT_EQ(text.substr(b, e - b), c.text);
    ASSERT_TRUE(utf8::IsValid(c.text));
    EXPECT_FALSE(IsSpace(c.text.front()));
    EXPECT_FALSE(IsSpace(c.text.back()));
    EXPECT_EQ(c.token_count, count(c.text));
    if (c.char_end - c.char_start > 1) {
      EXPECT_LE(c.token_count, max_tokens);
    }
    for (size_t k = c.char_start; k < c.char_end; ++k) {
      if (page_at[k] != -1) {
        ASSERT_EQ(page_at[k], c.page) << "chunk spans pages";
      }
    }
    ++cover[c.char_start];
    --cover[c.char_end];
    if (i > 0) {
      const Chunk& p = chunks[i - 1];
      ASSERT_LT(p.char_start, c.char_start);
      ASSERT_LT(p.char_end, c.char_end);
      if (c.char_start < p.char_end) {
        // Overlap only inside one section, and bounded by overlap_tokens.
        EXPECT_EQ(p.page, c.page);
        EXPECT_EQ(p.heading_path, c.heading_path);
        const std::string shared =
            text.substr(byte_at[c.char_start], byte_at[p.char_end] - byte_at[c.char_start]);
        EXPECT_LE(count(shared), overlap);
      }
    }
  }
  // Every visible character is in some chunk.
  int depth = 0;
  for (size_t k = 0; k < cps; ++k) {
    depth += cover[k];
    if (depth == 0 && !IsSpace(text[byte_at[k]])) {
      ADD_FAILURE() << "code point " << k << " not covered";
      return;
    }
  }
}

// ---------------------------------------------------------------- EstimateTokens

TEST(EstimateTokensTest, LatinRuns) {
  EXPECT_EQ(EstimateTokens(""), 0u);
  EXPECT_EQ(EstimateTokens("   \t\n"), 0u);
  EXPECT_EQ(EstimateTokens("a"), 1u);
  EXPECT_EQ(EstimateTokens("abcd"), 1u);
  EXPECT_EQ(EstimateTokens("hello"), 2u);
  EXPECT_EQ(EstimateTokens("abcd1234"), 2u);
  EXPECT_EQ(EstimateTokens("hello world"), 4u);
  EXPECT_EQ(EstimateTokens("café"), 1u);    // Latin-1 letters extend the run
  EXPECT_EQ(EstimateTokens("привет"), 2u);  // Cyrillic run of 6
}

TEST(EstimateTokensTest, CjkAndSymbols) {
  EXPECT_EQ(EstimateTokens("中文"), 2u);
  EXPECT_EQ(EstimateTokens("こんにちは"), 5u);
  EXPECT_EQ(EstimateTokens("한국어"), 3u);
  EXPECT_EQ(EstimateTokens("。，「」"), 4u);
  EXPECT_EQ(EstimateTokens("ＡＢＣ"), 3u);  // full-width forms: one each, not a run
  EXPECT_EQ(EstimateTokens("\xF0\xA0\x80\x80"), 1u);  // U+20000 (CJK Ext. B)
  EXPECT_EQ(EstimateTokens("hello, 世界!"), 6u);
  EXPECT_EQ(EstimateTokens("😀😀"), 2u);
  EXPECT_EQ(EstimateTokens("a+b=c"), 5u);
  EXPECT_EQ(EstimateTokens("C++20"), 4u);  // C, +, +, 20
  EXPECT_EQ(EstimateTokens("\xE2\x80\x8B"), 0u);  // zero-width space
}

// ---------------------------------------------------------------- options / extracted text

TEST(ChunkOptionsTest, Validate) {
  EXPECT_TRUE(ValidateChunkOptions(ChunkOptions{}).ok());
  EXPECT_TRUE(ValidateChunkOptions({16, 7}).ok());
  EXPECT_TRUE(ValidateChunkOptions({16, 0}).ok());
  const Status small = ValidateChunkOptions({15, 0});
  EXPECT_EQ(small.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(small.message().find("max_tokens"), std::string::npos);
  const Status overlap = ValidateChunkOptions({16, 8});
  EXPECT_EQ(overlap.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(overlap.message().find("overlap_tokens"), std::string::npos);
  EXPECT_EQ(ValidateChunkOptions({512, 300}).code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateChunkOptions({0, 0}).code(), StatusCode::kInvalidArgument);
}

TEST(ChunkExtractedTextTest, JoinsBlocks) {
  EXPECT_EQ(ExtractedText(Doc({})), "");
  EXPECT_EQ(ExtractedText(Doc({Heading(1, "T"), Para("a"), Para(""), Para("b")})),
            "T\n\na\n\n\n\nb");
}

// ---------------------------------------------------------------- SplitSentences

std::vector<std::string> Split(std::string_view s) {
  std::vector<std::string> out;
  std::string joined;
  for (std::string_view p : SplitSentences(s)) {
    out.emplace_back(p);
    joined.append(p);
  }
  EXPECT_EQ(joined, s);
  return out;
}

using V = std::vector<std::string>;

TEST(SplitSentencesTest, English) {
  EXPECT_EQ(Split(""), V{});
  EXPECT_EQ(Split("Hello world. How are you? Fine!"),
            (V{"Hello world. ", "How are you? ", "Fine!"}));
  EXPECT_EQ(Split("Pi is 3.14 exactly. Yes"), (V{"Pi is 3.14 exactly. ", "Yes"}));
  EXPECT_EQ(Split("See e.g. the docs. Done."), (V{"See e.g. the docs. ", "Done."}));
  EXPECT_EQ(Split("He said \"stop.\" Then left."), (V{"He said \"stop.\" ", "Then left."}));
  EXPECT_EQ(Split("Really?! Yes (really.) Ok"), (V{"Really?! ", "Yes (really.) ", "Ok"}));
  EXPECT_EQ(Split("Wait... What"), (V{"Wait... ", "What"}));
  EXPECT_EQ(Split("Wait... what"), (V{"Wait... what"}));  // lower case: not a sentence end
  EXPECT_EQ(Split("no terminator here"), (V{"no terminator here"}));
  EXPECT_EQ(Split("line one\nline two\r\nthree"), (V{"line one\n", "line two\r\n", "three"}));
  EXPECT_EQ(Split("End.  \n\nNext"), (V{"End.  \n\n", "Next"}));
}

TEST(SplitSentencesTest, Chinese) {
  EXPECT_EQ(Split("你好。今天天气很好！是吗？对；好的……结束"),
            (V{"你好。", "今天天气很好！", "是吗？", "对；", "好的……", "结束"}));
  EXPECT_EQ(Split("他说：“走吧。”然后走了。"), (V{"他说：“走吧。”", "然后走了。"}));
  EXPECT_EQ(Split("「真的？」『是的！』"), (V{"「真的？」", "『是的！』"}));
  EXPECT_EQ(Split("第一句．第二句｡第三句"), (V{"第一句．", "第二句｡", "第三句"}));
  EXPECT_EQ(Split("什么？！不会吧。"), (V{"什么？！", "不会吧。"}));
}

TEST(SplitSentencesTest, MixedEnglishChinese) {
  EXPECT_EQ(Split("我们用C++写代码。It is fast. 对吧？OK!好的"),
            (V{"我们用C++写代码。", "It is fast. ", "对吧？", "OK!", "好的"}));
  EXPECT_EQ(Split("版本v1.2发布了。Version 1.2 is out."),
            (V{"版本v1.2发布了。", "Version 1.2 is out."}));
}

TEST(SplitSentencesTest, RandomConcatenation) {
  std::mt19937 rng(7);
  const std::vector<std::string> parts = {"a", "中", "。", ".", "!", "?", " ", "\n", "”",
                                          "\"", ")", "😀", "…", "3", "é", "？", "x y"};
  for (int round = 0; round < 300; ++round) {
    std::string s;
    const size_t n = rng() % 40;
    for (size_t i = 0; i < n; ++i) s += parts[rng() % parts.size()];
    std::string joined;
    for (std::string_view p : SplitSentences(s)) {
      EXPECT_FALSE(p.empty());
      EXPECT_TRUE(utf8::IsValid(p));
      joined.append(p);
    }
    ASSERT_EQ(joined, s);
  }
}

// ---------------------------------------------------------------- structure

TEST(ChunkDocumentTest, EmptyDocument) {
  EXPECT_TRUE(ChunkDocument(Doc({}), {}).empty());
  EXPECT_TRUE(ChunkDocument(Doc({Para(""), Heading(1, "")}), {}).empty());
}

TEST(ChunkDocumentTest, SectionsAndHeadingPaths) {
  const ParsedDocument doc = Doc({
      Para("Preface text."),
      Heading(1, "Guide"), Para("Intro."),
      Heading(2, "Install"), Para("Install text."),
      Heading(3, "Linux"), Para("Linux text."),
      Heading(2, "Usage"), Para("Usage text."), Para("More usage."),
      Heading(1, "Appendix"), Para("App."),
  });
  const ChunkOptions opts{512, 64};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  ASSERT_EQ(chunks.size(), 6u);
  EXPECT_EQ(chunks[0].text, "Preface text.");
  EXPECT_EQ(chunks[0].heading_path, "");
  EXPECT_EQ(chunks[1].text, "Guide\n\nIntro.");  // heading opens its section's first chunk
  EXPECT_EQ(chunks[1].heading_path, "Guide");
  EXPECT_EQ(chunks[2].text, "Install\n\nInstall text.");
  EXPECT_EQ(chunks[2].heading_path, "Guide > Install");
  EXPECT_EQ(chunks[3].heading_path, "Guide > Install > Linux");
  EXPECT_EQ(chunks[4].text, "Usage\n\nUsage text.\n\nMore usage.");
  EXPECT_EQ(chunks[4].heading_path, "Guide > Usage");  // level 2 replaces Install and Linux
  EXPECT_EQ(chunks[5].heading_path, "Appendix");
  EXPECT_EQ(chunks[0].char_start, 0u);
  EXPECT_EQ(chunks[1].char_start, 15u);
}

TEST(ChunkDocumentTest, HeadingRunsAndEmptySections) {
  // Title > Sub with nothing between: one section; sibling headings with nothing between: the
  // first becomes a heading-only chunk; a trailing heading too.
  const ParsedDocument doc = Doc({
      Heading(1, "Title"), Heading(2, "Sub"), Para("Body."),
      Heading(2, "Empty"), Heading(2, "Full"), Para("Text."),
      Heading(4, "Skip"), Para("Deep."),
      Heading(3, "Tail"),
  });
  const ChunkOptions opts{512, 64};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_EQ(chunks[0].text, "Title\n\nSub\n\nBody.");
  EXPECT_EQ(chunks[0].heading_path, "Title > Sub");
  EXPECT_EQ(chunks[1].text, "Empty");
  EXPECT_EQ(chunks[1].heading_path, "Title > Empty");
  EXPECT_EQ(chunks[2].text, "Full\n\nText.");
  EXPECT_EQ(chunks[2].heading_path, "Title > Full");
  EXPECT_EQ(chunks[3].heading_path, "Title > Full > Skip");
  EXPECT_EQ(chunks[4].text, "Tail");
  EXPECT_EQ(chunks[4].heading_path, "Title > Full > Tail");
}

TEST(ChunkDocumentTest, PagesNeverShareAChunk) {
  const ParsedDocument doc = Doc({
      Heading(1, "Report", 1), Para("Page one a.", 1), Para("Page one b.", 1),
      Para("Page two.", 2), Heading(2, "Late", 2), Para("Still two.", 2),
      Heading(2, "Split", 2), Para("On three.", 3), Para("Also three.", 3),
  });
  const ChunkOptions opts{512, 64};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  ASSERT_EQ(chunks.size(), 5u);
  EXPECT_EQ(chunks[0].text, "Report\n\nPage one a.\n\nPage one b.");
  EXPECT_EQ(chunks[0].page, 1);
  EXPECT_EQ(chunks[1].text, "Page two.");
  EXPECT_EQ(chunks[1].page, 2);
  EXPECT_EQ(chunks[1].heading_path, "Report");  // the path survives the page change
  EXPECT_EQ(chunks[2].heading_path, "Report > Late");
  EXPECT_EQ(chunks[3].text, "Split");  // heading alone on its page
  EXPECT_EQ(chunks[3].page, 2);
  EXPECT_EQ(chunks[4].text, "On three.\n\nAlso three.");
  EXPECT_EQ(chunks[4].page, 3);
  EXPECT_EQ(chunks[4].heading_path, "Report > Split");
}

// ---------------------------------------------------------------- sizing and overlap

std::string EnglishSentences(size_t n) {
  std::string s;
  for (size_t i = 0; i < n; ++i) {
    if (i > 0) s += ' ';
    s += "Sentence number " + std::to_string(i) + " says something quite plain.";
  }
  return s;
}

TEST(ChunkDocumentTest, PacksParagraphsGreedily) {
  std::vector<Block> blocks;
  for (int i = 0; i < 40; ++i) blocks.push_back(Para("Paragraph " + std::to_string(i) + " has words."));
  const ParsedDocument doc = Doc(blocks);
  const ChunkOptions opts{64, 0};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  ASSERT_GT(chunks.size(), 1u);
  // Each paragraph is 8 tokens: greedy packing puts 8 in a chunk ("\n\n" costs nothing).
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].token_count, 64u);
    EXPECT_EQ(chunks[i].text.substr(0, 9), "Paragraph");
    EXPECT_EQ(chunks[i].text.back(), '.');
  }
  EXPECT_EQ(chunks.size(), 5u);
}

TEST(ChunkDocumentTest, OverlapWholeSentences) {
  const ParsedDocument doc = Doc({Heading(1, "Long"), Para(EnglishSentences(60))});
  const ChunkOptions opts{64, 16};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  ASSERT_GT(chunks.size(), 5u);
  EXPECT_EQ(chunks[0].text.substr(0, 6), "Long\n\n");
  const std::string text = ExtractedText(doc);
  for (size_t i = 1; i < chunks.size(); ++i) {
    // Every later chunk starts with the previous chunk's last sentence.
    ASSERT_LT(chunks[i].char_start, chunks[i - 1].char_end) << i;
    EXPECT_EQ(chunks[i].text.substr(0, 8), "Sentence") << i;
    const size_t shared = chunks[i - 1].char_end - chunks[i].char_start;
    const std::string overlap = chunks[i].text.substr(0, shared);  // ASCII: bytes == cps
    EXPECT_GE(EstimateTokens(overlap), 8u);
    EXPECT_LE(EstimateTokens(overlap), 16u);
    EXPECT_EQ(chunks[i - 1].text.substr(chunks[i - 1].text.size() - shared), overlap);
    EXPECT_EQ(chunks[i - 1].text.back(), '.');
  }
}

TEST(ChunkDocumentTest, SizeBoundIncludesOverlap) {
  // Documented bound: token_count <= max_tokens for every chunk, overlap included.
  const std::string mixed = EnglishSentences(30) + Repeat("中文句子没有标点", 200) +
                            "最后一句。" + Repeat("word ", 300);
  const ParsedDocument doc = Doc({Para(mixed), Para("short"), Para(Repeat("x", 5000))});
  for (size_t max_tokens : {16u, 17u, 31u, 64u, 100u, 512u}) {
    for (size_t overlap : {size_t{0}, size_t{1}, max_tokens / 4, max_tokens / 2 - 1}) {
      SCOPED_TRACE(std::to_string(max_tokens) + "/" + std::to_string(overlap));
      const ChunkOptions opts{max_tokens, overlap};
      const auto chunks = ChunkDocument(doc, opts);
      CheckInvariants(doc, chunks, opts);
      for (const Chunk& c : chunks) ASSERT_LE(c.token_count, max_tokens);
    }
  }
}

TEST(ChunkDocumentTest, InvalidOptionsAreClamped) {
  const ParsedDocument doc = Doc({Para(EnglishSentences(5))});
  const ChunkOptions opts{4, 10};  // overlap clamped to 2
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  for (const Chunk& c : chunks) EXPECT_LE(c.token_count, 4u);
  const ChunkOptions zero{0, 0};
  CheckInvariants(doc, ChunkDocument(doc, zero), zero);
}

TEST(ChunkDocumentTest, CustomCounter) {
  const ParsedDocument doc =
      Doc({Heading(1, "标题"), Para(EnglishSentences(20) + "中文也在这里。" + Repeat("😀", 300))});
  const ChunkOptions opts{100, 20};
  const auto chunks = ChunkDocument(doc, opts, ByteCounter);
  CheckInvariants(doc, chunks, opts, ByteCounter);
  for (const Chunk& c : chunks) EXPECT_LE(c.text.size(), 100u);
}

// ---------------------------------------------------------------- Chinese / mixed / emoji

TEST(ChunkDocumentTest, ChineseParagraphWithPunctuation) {
  std::string para;
  for (int i = 0; i < 200; ++i) {
    para += "这是第" + std::to_string(i) + "个句子，内容比较简单";
    para += (i % 3 == 0) ? "！" : "。";
  }
  const ParsedDocument doc = Doc({Para(para)});
  const ChunkOptions opts{100, 20};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  ASSERT_GT(chunks.size(), 10u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const std::string& t = chunks[i].text;
    EXPECT_EQ(t.substr(0, 6), "这是") << i;  // starts at a sentence start (overlap included)
    const std::string last = t.substr(t.size() - 3);
    EXPECT_TRUE(last == "。" || last == "！") << i;
    EXPECT_GT(chunks[i].token_count, 60u);
    if (i > 0) {
      EXPECT_LT(chunks[i].char_start, chunks[i - 1].char_end);
    }
  }
}

TEST(ChunkDocumentTest, ChineseParagraphWithoutPunctuation) {
  const std::string para = Repeat("汉字测试文本内容", 1250);  // 10000 code points
  const ParsedDocument doc = Doc({Para(para)});
  const ChunkOptions opts{128, 16};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  ASSERT_GT(chunks.size(), 80u);
  for (size_t i = 0; i + 1 < chunks.size(); ++i) {
    EXPECT_EQ(chunks[i].token_count, 128u) << i;  // cut exactly at the budget
    EXPECT_EQ(chunks[i].char_end - chunks[i].char_start, 128u);
    if (i > 0) {
      EXPECT_EQ(chunks[i - 1].char_end - chunks[i].char_start, 16u);  // tail overlap
    }
  }
  EXPECT_EQ(chunks.back().char_end, 10000u);
}

TEST(ChunkDocumentTest, HeadingJoinsOversizedSentence) {
  // A heading followed by one oversized sentence shares the first chunk with its start.
  const ParsedDocument doc = Doc({Heading(1, "Overview"), Para(Repeat("x", 5000))});
  const ChunkOptions opts{32, 8};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  ASSERT_GT(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].text.substr(0, 13), "Overview\n\nxxx");
  EXPECT_EQ(chunks[0].token_count, 32u);
  // One giant "word": the overlap is a fragment of it (no word start exists).
  EXPECT_LT(chunks[2].char_start, chunks[1].char_end);
}

TEST(ChunkDocumentTest, ShortChunkGivesNoFragmentOverlap) {
  // "Short." cannot give a whole-sentence overlap (it is the chunk itself) and a tail of it
  // would be a fragment ("hort."): the next chunk starts fresh.
  const ParsedDocument doc = Doc({Para("Short."), Para(Repeat("word ", 100) + "end")});
  const ChunkOptions opts{32, 8};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  ASSERT_GT(chunks.size(), 2u);
  EXPECT_EQ(chunks[0].text, "Short.");
  EXPECT_EQ(chunks[1].char_start, chunks[0].char_end + 2);
  EXPECT_EQ(chunks[1].text.substr(0, 5), "word ");
  EXPECT_LT(chunks[2].char_start, chunks[1].char_end);  // later chunks overlap again
}

TEST(ChunkDocumentTest, OverlapTailStartsAfterClauseBreak) {
  // Each sentence is 17 tokens, more than the 10-token overlap, so the overlap is a tail; it
  // moves forward past the "，" in its first half instead of starting mid-clause.
  const ParsedDocument doc = Doc({Para(Repeat("甲乙丙丁戊己庚辛壬癸子丑，寅卯辰巳。", 20))});
  const ChunkOptions opts{60, 10};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  ASSERT_GT(chunks.size(), 3u);
  for (size_t i = 1; i < chunks.size(); ++i) {
    ASSERT_EQ(chunks[i - 1].char_end - chunks[i].char_start, 5u) << i;
    EXPECT_EQ(chunks[i].text.substr(0, 15), "寅卯辰巳。") << i;
  }
}

TEST(ChunkDocumentTest, MixedEnglishChineseSplitsAtSentences) {
  std::string para;
  for (int i = 0; i < 50; ++i) {
    para += "我们使用DeepSeek模型回答问题。The gateway retries failed requests! 这样可靠吗？";
  }
  const ParsedDocument doc = Doc({Para(para)});
  const ChunkOptions opts{80, 0};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  ASSERT_GT(chunks.size(), 5u);
  for (size_t i = 0; i < chunks.size(); ++i) {
    const std::string& t = chunks[i].text;
    const std::string last = t.back() == '!' ? "!" : t.substr(t.size() - 3);
    EXPECT_TRUE(last == "。" || last == "？" || last == "!") << t;
    if (i > 0) {  // no overlap: the next chunk starts at most one space later
      EXPECT_GE(chunks[i].char_start, chunks[i - 1].char_end);
      EXPECT_LE(chunks[i].char_start, chunks[i - 1].char_end + 1);
    }
  }
}

TEST(ChunkDocumentTest, FourByteCharactersAtCutBoundaries) {
  // Emoji and CJK Extension B (4 bytes each, 1 token each) with 2-byte letters mixed in.
  std::string para;
  for (int i = 0; i < 700; ++i) para += (i % 7 == 3) ? "é" : (i % 2 ? "😀" : "\xF0\xA0\x80\x80");
  const ParsedDocument doc = Doc({Para(para), Para(Repeat("👨‍👩‍👧", 200))});
  for (size_t max_tokens : {16u, 33u, 50u}) {
    for (size_t overlap : {size_t{0}, size_t{5}}) {
      const ChunkOptions opts{max_tokens, overlap};
      const auto chunks = ChunkDocument(doc, opts);
      CheckInvariants(doc, chunks, opts);
      for (const Chunk& c : chunks) EXPECT_TRUE(utf8::IsValid(c.text));
    }
  }
  // Byte-sized budgets force cuts that would land inside sequences if not aligned.
  const ChunkOptions opts{17, 5};
  CheckInvariants(doc, ChunkDocument(doc, opts, ByteCounter), opts, ByteCounter);
}

TEST(ChunkDocumentTest, LongLatinWordsCutAtSpaces) {
  const ParsedDocument doc = Doc({Para(Repeat("alpha beta gamma delta ", 200))});
  const ChunkOptions opts{40, 8};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  const std::string text = ExtractedText(doc);
  for (const Chunk& c : chunks) {
    // Neither end falls inside a word.
    EXPECT_TRUE(c.char_start == 0 || text[c.char_start - 1] == ' ') << c.text;
    EXPECT_TRUE(c.char_end == text.size() || text[c.char_end] == ' ') << c.text;
  }
}

// ---------------------------------------------------------------- randomised invariants

std::string RandomText(std::mt19937& rng, size_t pieces) {
  static const std::vector<std::string> kParts = {
      "the", "quick", "brown", "fox", "知识", "库", "数据", "。", "！", "？", "；", "…", ".", "!",
      "?", ",", "，", " ", " ", " ", "\"", "”", "」", "😀", "👨‍👩‍👧", "\xF0\xA0\x80\x80",
      "é", "3.14", "abcdefghijklmnop", "汉字汉字汉字汉字", "\n", "ＡＢ", "한국", "\xE2\x80\x8B"};
  std::string s;
  for (size_t i = 0; i < pieces; ++i) s += kParts[rng() % kParts.size()];
  return s;
}

TEST(ChunkDocumentTest, RandomDocumentsKeepInvariants) {
  std::mt19937 rng(20240607);
  const std::vector<std::pair<std::string, TokenCounter>> counters = {
      {"estimate", EstimateTokens}, {"bytes", ByteCounter}, {"cps", CodePointCounter}};
  for (int round = 0; round < 300; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    std::vector<Block> blocks;
    const size_t n = rng() % 12;
    int page = static_cast<int>(rng() % 3);
    for (size_t i = 0; i < n; ++i) {
      if (rng() % 4 == 0) page += 1;
      const size_t len = rng() % 6 == 0 ? 200 + rng() % 800 : rng() % 30;
      if (rng() % 4 == 0) {
        blocks.push_back(Heading(1 + static_cast<int>(rng() % 4), RandomText(rng, 1 + rng() % 5), page));
      } else {
        blocks.push_back(Para(RandomText(rng, len), page));
      }
    }
    const ParsedDocument doc = Doc(blocks);
    const size_t max_tokens = 16 + rng() % 150;
    const size_t overlap = rng() % (max_tokens / 2);
    const ChunkOptions opts{max_tokens, overlap};
    ASSERT_TRUE(ValidateChunkOptions(opts).ok());
    const auto& [name, counter] = counters[rng() % counters.size()];
    SCOPED_TRACE(name + " " + std::to_string(max_tokens) + "/" + std::to_string(overlap));
    const auto chunks = ChunkDocument(doc, opts, counter);
    CheckInvariants(doc, chunks, opts, counter);
    if (HasFatalFailure() || HasNonfatalFailure()) return;
  }
}

// ---------------------------------------------------------------- performance sanity

TEST(ChunkDocumentTest, LargeParagraphCompletes) {
  // ~5 MB single paragraph of Chinese without punctuation, then one with punctuation.
  const std::string plain = Repeat("汉字测试文本内容", 210000);
  const ParsedDocument doc = Doc({Para(plain)});
  const ChunkOptions opts{512, 64};
  const auto chunks = ChunkDocument(doc, opts);
  CheckInvariants(doc, chunks, opts);
  EXPECT_GT(chunks.size(), 3000u);

  const std::string punct = Repeat("这是一个普通的句子，包含一些内容。Some English too! ", 80000);
  const ParsedDocument doc2 = Doc({Para(punct)});
  const auto chunks2 = ChunkDocument(doc2, opts);
  CheckInvariants(doc2, chunks2, opts);
  EXPECT_GT(chunks2.size(), 1000u);
}

}  // namespace
}  // namespace deepkb::text
