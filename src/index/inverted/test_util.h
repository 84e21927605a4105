// Test helpers for the keyword index tests: a random mixed Chinese/English/identifier corpus
// with Zipf-ish word frequencies, and random user queries over the same vocabulary.
#pragma once

#include <cmath>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace deepkb::inverted::testing {

class TextGen {
 public:
  explicit TextGen(uint64_t seed) : rng_(seed) {
    zh_ = {"数据", "数据库", "连接", "连接池", "配置", "文件", "用户", "命令", "选项", "系统",
           "网络", "服务", "中文", "检索", "索引", "查询", "结果", "进程", "内存", "缓存",
           "中",   "文",   "用",   "户",   "库",   "鲁",   "的",   "一个", "如果", "使用",
           "カタカナ", "ひらがな", "テスト", "東京", "データ", "日本語"};
    en_ = {"the",   "to",    "is",    "name",   "of",     "file",    "server", "data",
           "query", "index", "cache", "memory", "socket", "options", "user",   "shell",
           "config", "search", "vector", "keyword", "rare", "zebra"};
    id_ = {"ppr-9087", "node.js", "pg_dump", "smb.conf", "etc/passwd", "SOCK_STREAM",
           "c++",      "a-a",     "x-x-x",   "Tcl_Interp", "한국-어", "foo.bar.baz",
           "ＡＢＣ",  "e1234",   "a@b.com", "C#", "data-file"};
  }

  size_t Zipf(size_t n) {
    // P(r) ∝ 1/(r+1): inverse CDF by a linear scan (lists are short).
    double total = 0;
    for (size_t r = 0; r < n; ++r) total += 1.0 / static_cast<double>(r + 1);
    double u = std::uniform_real_distribution<double>(0, total)(rng_);
    for (size_t r = 0; r < n; ++r) {
      u -= 1.0 / static_cast<double>(r + 1);
      if (u <= 0) return r;
    }
    return n - 1;
  }
  int Between(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng_); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(rng_) < p; }

  std::string Word() {
    const double u = std::uniform_real_distribution<double>(0, 1)(rng_);
    if (u < 0.55) return zh_[Zipf(zh_.size())];
    if (u < 0.85) return en_[Zipf(en_.size())];
    return id_[Zipf(id_.size())];
  }

  // Text of `words` words; Chinese words are often written without spaces between them.
  std::string Text(int words) {
    std::string s;
    for (int i = 0; i < words; ++i) {
      const std::string w = Word();
      if (!s.empty()) {
        const bool cjk_pair = static_cast<unsigned char>(s.back()) >= 0x80 &&
                              static_cast<unsigned char>(w[0]) >= 0x80;
        if (!(cjk_pair && Chance(0.7))) s += Chance(0.1) ? "，" : " ";
      }
      s += w;
    }
    return s;
  }

  // A user query: 1-4 words, sometimes a lone CJK character or punctuation.
  std::string Query() {
    std::string q;
    const int words = Between(1, 4);
    for (int i = 0; i < words; ++i) {
      if (!q.empty() && Chance(0.6)) q += " ";
      const int kind = Between(0, 9);
      if (kind == 0) {
        static const char* kSingles[] = {"中", "文", "用", "鲁", "数", "カ", "テ", "東", "ひ", "库"};
        q += kSingles[Between(0, 9)];
        if (Chance(0.3)) q += "x";  // a character followed by non-CJK
      } else {
        q += Word();
      }
    }
    return q;
  }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> zh_, en_, id_;
};

}  // namespace deepkb::inverted::testing
