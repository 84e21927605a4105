// The RAG text layer: counters, merging, packing into a budget (property test with both
// counters), the passages block and prompts, language detection, messages, citation markers,
// citations JSON and the extractive answer.
#include "gateway/rag.h"

#include <gtest/gtest.h>

#include <random>

#include "common/utf8.h"
#include "tokenize/pre_tokenizer.h"
#include "tokenize/tokenizer.h"
#include "tokenize/tokenizer_impl.h"

namespace deepkb::gateway {
namespace {

using json = nlohmann::json;

// A tiny byte-level BPE tokenizer (Qwen2 pre-tokenizer, 256 byte tokens, a few merges that
// include whitespace and a CJK character, so counts are not simply additive).
std::shared_ptr<const tokenize::Tokenizer> TinyTokenizer() {
  static const auto map = tokenize::ByteToUnicode();
  const auto level = [](std::string_view bytes) {
    std::string out;
    for (unsigned char b : bytes) utf8::Append(out, map[b]);
    return out;
  };
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[level(std::string(1, static_cast<char>(b)))] = b;
  json merges = json::array();
  int id = 256;
  for (auto [l, r] : std::vector<std::pair<std::string, std::string>>{{"t", "h"},
                                                                      {"th", "e"},
                                                                      {" ", "the"},
                                                                      {"\n", "\n"},
                                                                      {"\xE7", "\x9A"},
                                                                      {"\xE7\x9A", "\x84"},
                                                                      {"i", "n"},
                                                                      {" ", "in"}}) {
    vocab[level(l + r)] = id++;
    merges.push_back(level(l) + " " + level(r));
  }
  json split = {{"type", "Split"},
                {"pattern",
                 {{"Regex", std::string(tokenize::internal::RegexForSplitKind(
                                tokenize::internal::SplitKind::kQwen2))}}},
                {"behavior", "Isolated"},
                {"invert", false}};
  json byte_level = {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"use_regex", false}};
  json j = {{"model", {{"type", "BPE"}, {"vocab", vocab}, {"merges", merges}}},
            {"pre_tokenizer", {{"type", "Sequence"}, {"pretokenizers", {split, byte_level}}}},
            {"added_tokens", json::array()}};
  auto t = tokenize::Tokenizer::FromJson(j.dump());
  EXPECT_TRUE(t.ok()) << t.status().ToString();
  return t.ok() ? std::shared_ptr<const tokenize::Tokenizer>(std::move(t).value()) : nullptr;
}

Passage P(std::string doc, int64_t chunk, std::string text, std::string title = "") {
  Passage p;
  p.collection = "docs";
  p.doc_id = std::move(doc);
  p.chunk_id = chunk;
  p.text = std::move(text);
  p.title = std::move(title);
  return p;
}

std::vector<std::string> Docs(const std::vector<Passage>& ps) {
  std::vector<std::string> out;
  for (const Passage& p : ps) out.push_back(p.doc_id + "#" + std::to_string(p.chunk_id));
  return out;
}

TEST(RagCounter, EstimateIsDocumentedAndSubadditive) {
  const auto est = MakeEstimateCounter();
  EXPECT_EQ(est->name(), "estimate");
  EXPECT_EQ(est->Count(""), 0u);
  EXPECT_EQ(est->Count("abc"), 1u);
  EXPECT_EQ(est->Count("abcd"), 2u);
  EXPECT_EQ(est->Count("数据库"), 3u);
  EXPECT_EQ(est->Count("数据库 is ok。"), 4u + 2u);  // 4 non-ASCII + " is ok" / 3
  EXPECT_EQ(est->Count("a.b"), 2u);
  EXPECT_EQ(est->Count("\r\n\t"), 3u);
  EXPECT_EQ(est->Count("é😀"), 2u);
  std::mt19937 rng(7);
  const std::vector<std::string> pool = {"a", "bc", " ", "中", "😀", "é", "\n", "。"};
  for (int i = 0; i < 300; ++i) {
    std::string a, b;
    for (int k = rng() % 9; k > 0; --k) a += pool[rng() % pool.size()];
    for (int k = rng() % 9; k > 0; --k) b += pool[rng() % pool.size()];
    EXPECT_LE(est->Count(a + b), est->Count(a) + est->Count(b));
  }
}

TEST(RagCounter, BpeCountsWithTheTokenizer) {
  auto tok = TinyTokenizer();
  ASSERT_TRUE(tok);
  const auto bpe = MakeBpeCounter(tok, "tiny.json");
  EXPECT_EQ(bpe->name(), "bpe:tiny.json");
  EXPECT_EQ(bpe->Count("the"), 1u);
  EXPECT_EQ(bpe->Count(" the the"), 2u);
  EXPECT_EQ(bpe->Count("的"), 1u);
  EXPECT_EQ(bpe->Count("xyz"), 3u);
  EXPECT_EQ(bpe->Count("in the 的\n\n"), tok->Count("in the 的\n\n"));
}

TEST(RagMerge, InterleavesSourcesByReciprocalRank) {
  auto merged = MergeSources(
      {{P("a", 1, "x"), P("a", 2, "x"), P("a", 3, "x")}, {P("b", 1, "x"), P("b", 2, "x")}, {}});
  EXPECT_EQ(Docs(merged), (std::vector<std::string>{"a#1", "b#1", "a#2", "b#2", "a#3"}));
  EXPECT_TRUE(MergeSources({}).empty());
}

TEST(RagMerge, AChunkFoundByTwoSourcesAddsItsScores) {
  Passage shared = P("s", 9, "shared");
  auto merged = MergeSources({{P("a", 1, "x"), P("a", 2, "x"), shared}, {shared, P("b", 2, "x")}});
  // shared: 1/63 + 1/61 > 1/61 (a#1) — first; it appears once.
  EXPECT_EQ(Docs(merged), (std::vector<std::string>{"s#9", "a#1", "a#2", "b#2"}));
  // The same doc/chunk in another KB is another passage.
  Passage remote = shared;
  remote.kb = "node-b";
  EXPECT_EQ(MergeSources({{shared}, {remote}}).size(), 2u);
}

TEST(RagPack, DropsDuplicatesAndBlankTextKeepingOrder) {
  const auto est = MakeEstimateCounter();
  std::vector<Passage> in = {P("a", 1, "Alpha text."), P("a", 1, "Other text same chunk."),
                             P("b", 1, "  Alpha\n  text.  "), P("c", 1, " \n "),
                             P("d", 1, "Delta text.")};
  PackedContext ctx = Pack(in, *est, {.budget_tokens = 1000});
  EXPECT_EQ(Docs(ctx.passages), (std::vector<std::string>{"a#1", "d#1"}));
  EXPECT_EQ(ctx.duplicates_dropped, 2u);
  EXPECT_EQ(ctx.over_budget_dropped, 0u);
  EXPECT_FALSE(ctx.last_truncated);
  EXPECT_EQ(ctx.tokens, est->Count(ContextBlock(ctx)));
}

TEST(RagPack, StopsAtMaxPassages) {
  const auto est = MakeEstimateCounter();
  std::vector<Passage> in;
  for (int i = 0; i < 10; ++i) in.push_back(P("d", i, "text " + std::to_string(i)));
  PackedContext ctx = Pack(in, *est, {.budget_tokens = 10000, .max_passages = 3});
  EXPECT_EQ(ctx.passages.size(), 3u);
  EXPECT_EQ(ctx.over_budget_dropped, 0u);
}

TEST(RagPack, CutsChineseAtASentenceBoundary) {
  const auto est = MakeEstimateCounter();
  std::string text;
  for (int i = 0; i < 20; ++i) text += "第" + std::to_string(i) + "句话说明连接池的配置。";
  const size_t header = est->Count("[1] t\n");
  PackedContext ctx =
      Pack({P("d", 1, text, "t")}, *est, {.budget_tokens = header + 40, .min_passage_tokens = 10});
  ASSERT_EQ(ctx.passages.size(), 1u);
  EXPECT_TRUE(ctx.last_truncated);
  const std::string& cut = ctx.passages[0].text;
  EXPECT_LT(cut.size(), text.size());
  EXPECT_EQ(text.rfind(cut, 0), 0u) << "a prefix of the original";
  EXPECT_TRUE(cut.ends_with("。")) << cut;
  EXPECT_LE(ctx.tokens, header + 40);
  // Another sentence would not have fit: the cut is the longest.
  const size_t next_end = text.find("。", cut.size()) + std::string("。").size();
  PackedContext one_more = ctx;
  one_more.passages[0].text = text.substr(0, next_end);
  EXPECT_GT(est->Count(ContextBlock(one_more)), header + 40);
}

TEST(RagPack, CutsAtACharacterBoundaryWhenNoSentenceEndFits) {
  const auto est = MakeEstimateCounter();
  const std::string text = std::string(50, 'x') + std::string(200, 'y') + "中文没有句号的很长一段" +
                           std::string(300, 'z') + ".";
  PackedContext ctx =
      Pack({P("d", 1, text, "t")}, *est, {.budget_tokens = 60, .min_passage_tokens = 20});
  ASSERT_EQ(ctx.passages.size(), 1u);
  EXPECT_TRUE(ctx.last_truncated);
  EXPECT_TRUE(utf8::IsValid(ctx.passages[0].text));
  EXPECT_GE(est->Count(ctx.passages[0].text), 20u);
  EXPECT_LE(ctx.tokens, 60u);
}

TEST(RagPack, SkipsWhatCannotKeepMinimumTokensButFitsLaterSmallerOnes) {
  const auto est = MakeEstimateCounter();
  std::vector<Passage> in = {P("big", 1, std::string(3000, 'a') + "."),
                             P("small", 1, "Short answer.")};
  // Room for the small one, not for min_passage_tokens (500) of the big one.
  PackedContext ctx = Pack(in, *est, {.budget_tokens = 100, .min_passage_tokens = 500});
  EXPECT_EQ(Docs(ctx.passages), (std::vector<std::string>{"small#1"}));
  EXPECT_EQ(ctx.over_budget_dropped, 1u);
  EXPECT_FALSE(ctx.last_truncated);
  EXPECT_EQ(ContextBlock(ctx), "[1] small\nShort answer.");
}

TEST(RagPack, ZeroBudgetPacksNothing) {
  const auto est = MakeEstimateCounter();
  PackedContext ctx = Pack({P("a", 1, "text")}, *est, {.budget_tokens = 0});
  EXPECT_TRUE(ctx.passages.empty());
  EXPECT_EQ(ctx.tokens, 0u);
  EXPECT_EQ(ctx.over_budget_dropped, 1u);
}

// Random passages (English and Chinese sentences, newlines, duplicates) and budgets: the block
// never exceeds the budget, ctx.tokens is its exact count, cuts are valid UTF-8 prefixes.
TEST(RagPack, NeverExceedsTheBudgetWithEitherCounter) {
  auto tok = TinyTokenizer();
  ASSERT_TRUE(tok);
  const auto bpe = MakeBpeCounter(tok, "tiny");
  const auto est = MakeEstimateCounter();
  const std::vector<std::string> sentences = {"The pool size is 64. ",
                                              "In the end it works!",
                                              "连接池的最大连接数是 64。",
                                              "复制是异步的！",
                                              "Why?\n",
                                              "表格：a | b | c\n",
                                              "🙂 emoji here. ",
                                              "长句子没有标点符号而且很长很长",
                                              "the the the in in ",
                                              "Ünïcödé ñ. "};
  std::mt19937 rng(42);
  for (int iter = 0; iter < 400; ++iter) {
    std::vector<Passage> in;
    for (int n = rng() % 12; n > 0; --n) {
      std::string text;
      for (int k = 1 + rng() % 25; k > 0; --k) text += sentences[rng() % sentences.size()];
      Passage p = P("d" + std::to_string(rng() % 6), rng() % 3, text, rng() % 2 ? "标题" : "");
      p.page = static_cast<int>(rng() % 3);
      p.source = rng() % 2 ? "manual.pdf" : "";
      in.push_back(std::move(p));
    }
    const PackOptions opts{.budget_tokens = rng() % 700,
                           .max_passages = 1 + rng() % 8,
                           .min_passage_tokens = rng() % 40};
    for (const TokenCounter* counter : {bpe.get(), est.get()}) {
      PackedContext ctx = Pack(in, *counter, opts);
      const std::string block = ContextBlock(ctx);
      ASSERT_EQ(ctx.tokens, counter->Count(block)) << counter->name();
      ASSERT_LE(ctx.tokens, opts.budget_tokens) << counter->name();
      ASSERT_LE(ctx.passages.size(), opts.max_passages);
      ASSERT_TRUE(utf8::IsValid(block));
      ASSERT_LE(ctx.passages.size() + ctx.duplicates_dropped + ctx.over_budget_dropped, in.size());
      for (size_t i = 0; i < ctx.passages.size(); ++i) {
        const Passage& p = ctx.passages[i];
        const bool cut = ctx.last_truncated && i + 1 == ctx.passages.size();
        const auto original = std::find_if(in.begin(), in.end(), [&](const Passage& q) {
          return q.doc_id == p.doc_id && q.chunk_id == p.chunk_id;
        });
        ASSERT_NE(original, in.end());
        std::string trimmed = original->text;
        while (!trimmed.empty() && (trimmed.back() == ' ' || trimmed.back() == '\n')) {
          trimmed.pop_back();
        }
        if (cut) {
          ASSERT_EQ(trimmed.rfind(p.text, 0), 0u);
          ASSERT_LT(p.text.size(), trimmed.size());
          ASSERT_GE(counter->Count(p.text), std::max<size_t>(opts.min_passage_tokens, 1));
        } else {
          ASSERT_EQ(p.text, trimmed);
        }
        ASSERT_NE(block.find("[" + std::to_string(i + 1) + "] "), std::string::npos);
      }
      // The prompt's overhead bound holds for every packed context.
      for (Language lang : {Language::kEnglish, Language::kChinese}) {
        ASSERT_LE(counter->Count(SystemPrompt(ctx, lang)),
                  PromptOverheadTokens(*counter, lang) + ctx.tokens);
      }
    }
  }
}

TEST(RagBlock, RendersNumberedPassagesWithHeaders) {
  PackedContext ctx;
  Passage a = P("docs/a.md", 1, "First text.", "Guide");
  a.heading_path = "Install > Linux";
  a.source = "a.pdf";
  a.page = 3;
  Passage b = P("docs/b.md", 2, "第二段。");
  b.source = "docs/b.md";  // same as the fallback title: not repeated
  Passage c = P("c", 3, "x", "Multi\nline   title");
  ctx.passages = {a, b, c};
  EXPECT_EQ(ContextBlock(ctx),
            "[1] Guide › Install > Linux — a.pdf p.3\nFirst text.\n\n"
            "[2] docs/b.md\n第二段。\n\n"
            "[3] Multi line title\nx");
  EXPECT_EQ(ContextBlock(PackedContext{}), "");
}

TEST(RagLanguage, DetectsTheQuestionsLanguage) {
  const auto zh = Language::kChinese, en = Language::kEnglish;
  const std::vector<std::pair<std::string, Language>> cases = {
      {"连接池的最大连接数是多少？", zh},
      {"PPR-9087 的状态是什么?", zh},
      {"如何配置 TLS certificate rotation?", zh},
      {"数据库 复制 配置", zh},
      {"PPR 状态", zh},  // no function character, but H >= 2W
      {"What is 数据库?", en},
      {"Explain the 主从复制 mechanism", en},
      {"How large is the connection pool?", en},
      {"", en},
      {"12345 ?!", en}};
  for (const auto& [text, lang] : cases) EXPECT_EQ(DetectLanguage(text), lang) << text;
}

TEST(RagPrompt, TellsTheModelToCiteAndEmbedsThePassages) {
  PackedContext ctx;
  ctx.passages = {P("a", 1, "Pool size is 64.", "Ops")};
  const std::string en = SystemPrompt(ctx, Language::kEnglish);
  EXPECT_NE(en.find("[1][3]"), std::string::npos);
  EXPECT_NE(en.find("Answer in English"), std::string::npos);
  EXPECT_TRUE(en.ends_with(ContextBlock(ctx))) << en;
  const std::string zh = SystemPrompt(ctx, Language::kChinese);
  EXPECT_NE(zh.find("用中文回答"), std::string::npos);
  EXPECT_NE(zh.find("知识库中没有相关内容"), std::string::npos);
  EXPECT_TRUE(zh.ends_with(ContextBlock(ctx)));
  EXPECT_NE(SystemPrompt(PackedContext{}, Language::kEnglish).find("no passages"),
            std::string::npos);
  const auto est = MakeEstimateCounter();
  EXPECT_LT(PromptOverheadTokens(*est, Language::kEnglish), 250u);
  EXPECT_LT(PromptOverheadTokens(*est, Language::kChinese), 250u);
}

TEST(RagMessages, PutsOurSystemMessageFirstAndKeepsTheClients) {
  PackedContext ctx;
  ctx.passages = {P("a", 1, "Pool size is 64.")};
  const json messages = json::parse(R"([
    {"role": "system", "content": "Be brief."},
    {"role": "user", "content": "old question"},
    {"role": "assistant", "content": "old answer"},
    {"role": "user", "content": [{"type": "text", "text": "How large"},
                                 {"type": "image_url", "image_url": {"url": "x"}},
                                 {"type": "text", "text": "is the pool?"}]}])");
  const json out = WithContext(messages, ctx, Language::kEnglish);
  ASSERT_EQ(out.size(), 5u);
  EXPECT_EQ(out[0]["role"], "system");
  EXPECT_EQ(out[0]["content"], SystemPrompt(ctx, Language::kEnglish));
  EXPECT_EQ(out[1], messages[0]);
  EXPECT_EQ(out[4], messages[3]);
  EXPECT_EQ(LastUserText(messages), "How large\nis the pool?");
  EXPECT_EQ(LastUserText(json::parse(R"([{"role":"user","content":"q1"},
                                         {"role":"assistant","content":"a"}])")),
            "q1");
  EXPECT_EQ(LastUserText(json::parse(R"([{"role":"system","content":"s"}])")), "");
  EXPECT_EQ(LastUserText(json::parse(R"([{"role":"user","content":null}, 5])")), "");
  EXPECT_EQ(LastUserText(json("not an array")), "");
  EXPECT_EQ(WithContext(json::object(), ctx, Language::kChinese).size(), 1u);
}

TEST(RagCitations, FindsMarkersInOrderWithoutDuplicates) {
  using V = std::vector<int>;
  EXPECT_EQ(CitedIndices("Pool is 64 [2]. Replicas [1, 3] and [2][3].", 3), (V{2, 1, 3}));
  EXPECT_EQ(CitedIndices("连接数是 64【1】，复制是异步的［2］。见[3，1]与[2、3]", 3), (V{1, 2, 3}));
  EXPECT_EQ(CitedIndices("64[1]。", 9), (V{1}));
  EXPECT_EQ(CitedIndices("see [10] and [0]", 9), V{});
  EXPECT_EQ(CitedIndices("see [10]", 10), (V{10}));
  EXPECT_EQ(CitedIndices("[1, 12]", 9), (V{1}));
  EXPECT_EQ(CitedIndices("a[i] and [1.5] and [1-2] and [] and [ ] and [1,] and [x1]", 9), V{});
  EXPECT_EQ(CitedIndices("code `v[1]` and\n```\nw[2] = 3;\n```\nthen [3]", 9), (V{3}));
  EXPECT_EQ(CitedIndices("a lone ` backtick [4]", 9), (V{4}));
  EXPECT_EQ(CitedIndices("[99999999999999999999]", 9), V{});
  EXPECT_EQ(CitedIndices("unclosed [1", 9), V{});
  EXPECT_EQ(CitedIndices("", 9), V{});
  EXPECT_EQ(CitedIndices("[1]", 0), V{});
}

TEST(RagCitations, JsonHasTheContractFields) {
  PackedContext ctx;
  Passage local = P("docs/a.md", 7, "Pool size is 64.", "Ops");
  local.score = 1.5;
  local.page = 2;
  local.source = "a.pdf";
  std::string long_text;
  for (int i = 0; i < 400; ++i) long_text += "数据";
  Passage remote = P("b", 8, long_text);
  remote.kb = "node-b";
  ctx.passages = {local, remote};
  const json c = CitationsJson(ctx);
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c[0], json::parse(R"({"index": 1, "collection": "docs", "doc_id": "docs/a.md",
      "chunk_id": 7, "score": 1.5, "text": "Pool size is 64.", "title": "Ops",
      "source": "a.pdf", "page": 2})"));
  EXPECT_EQ(c[1]["index"], 2);
  EXPECT_EQ(c[1]["kb"], "node-b");
  EXPECT_FALSE(c[1].contains("title"));
  EXPECT_FALSE(c[1].contains("page"));
  const std::string text = c[1]["text"];
  EXPECT_LE(text.size(), 1000u);
  EXPECT_GT(text.size(), 990u);
  EXPECT_TRUE(utf8::IsValid(text));
  EXPECT_TRUE(CitationsJson(PackedContext{}).empty());
}

// n sentences of ~90 characters that share no terms with the questions below.
std::string Filler(int n) {
  std::string out;
  for (int i = 0; i < n; ++i)
    out += "Sentence " + std::to_string(i) +
           " says nothing useful, just words to fill up space in a document. ";
  return out;
}

TEST(RagExtractive, LabelsAndCitesTheBestSentences) {
  PackedContext ctx;
  ctx.passages = {
      P("a", 1, Filler(5) + "The connection pool holds 64 connections.\n" + Filler(5), "Ops guide"),
      P("b", 2, "Replication is asynchronous."), P("c", 3, "Third."), P("d", 4, "Fourth.")};
  const std::string en =
      ExtractiveAnswer(ctx, "How large is the connection pool?", Language::kEnglish);
  EXPECT_TRUE(
      en.starts_with("No language model is available; here are the most relevant "
                     "passages from the knowledge base:"))
      << en;
  // Only the sentence that shares terms with the question.
  EXPECT_NE(en.find("\n\nOps guide: The connection pool holds 64 connections. [1]\n\n"),
            std::string::npos)
      << en;
  EXPECT_EQ(en.find("Sentence"), std::string::npos) << en;
  // No overlap: the opening sentences.
  EXPECT_NE(en.find("Replication is asynchronous. [2]"), std::string::npos);
  EXPECT_NE(en.find("[3]"), std::string::npos);
  EXPECT_EQ(en.find("[4]"), std::string::npos);  // max_passages = 3

  const std::string zh = ExtractiveAnswer(ctx, "连接池有多大？", Language::kChinese, 1);
  EXPECT_TRUE(zh.starts_with("当前没有可用的语言模型；以下是知识库中最相关的段落：")) << zh;
  EXPECT_NE(zh.find("[1]"), std::string::npos);
  EXPECT_EQ(zh.find("[2]"), std::string::npos);

  EXPECT_NE(ExtractiveAnswer({}, "q", Language::kEnglish).find("nothing relevant"),
            std::string::npos);
  EXPECT_NE(ExtractiveAnswer({}, "问题", Language::kChinese).find("没有找到"), std::string::npos);
}

TEST(RagExtractive, TitleIsNotRepeatedWhenTheExcerptStartsWithIt) {
  PackedContext ctx;
  ctx.passages = {P("a", 1, "Kestrel Ferry Manual The ferry departs at noon.", "Kestrel Ferry Manual")};
  const std::string en = ExtractiveAnswer(ctx, "ferry departs", Language::kEnglish);
  EXPECT_NE(en.find("\n\nKestrel Ferry Manual The ferry departs at noon. [1]"), std::string::npos) << en;
  EXPECT_EQ(en.find("Kestrel Ferry Manual: "), std::string::npos) << en;
}

TEST(RagExtractive, ExcerptsPickOverlappingChineseSentencesAndStayShort) {
  std::string text;
  for (int i = 0; i < 40; ++i) text += "这一句是无关的填充内容。";
  text += "连接池的最大连接数是六十四。";
  for (int i = 0; i < 40; ++i) text += "后面还有很多无关的句子。";
  text += std::string(1000, 'q');  // one giant sentence
  PackedContext ctx;
  ctx.passages = {P("a", 1, text, "运维")};
  const std::string zh = ExtractiveAnswer(ctx, "连接池最大连接数", Language::kChinese);
  EXPECT_NE(zh.find("连接池的最大连接数是六十四。"), std::string::npos) << zh;
  EXPECT_TRUE(utf8::IsValid(zh));
  const size_t label = utf8::CodePointCount("当前没有可用的语言模型；以下是知识库中最相关的段落：");
  EXPECT_LE(utf8::CodePointCount(zh), label + 2 + 3 + 400 + 4 + 10);

  PackedContext giant;
  giant.passages = {P("g", 1, std::string(1000, 'q'))};
  const std::string cut = ExtractiveAnswer(giant, "q", Language::kEnglish);
  EXPECT_NE(cut.find(std::string(400, 'q') + "… [1]"), std::string::npos);
  EXPECT_EQ(cut.find(std::string(401, 'q')), std::string::npos);
}

}  // namespace
}  // namespace deepkb::gateway
