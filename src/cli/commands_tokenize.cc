// `deepkb tokenize`: token ids (or counts) of text with a Hugging Face tokenizer.json, e.g. the
// DeepSeek-V3 or Qwen3 tokenizer (docs/tokenizer.md). Works offline; needs no data directory.
#include <charconv>
#include <cstdio>
#include <iostream>
#include <iterator>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/app.h"
#include "tokenize/tokenizer.h"

namespace deepkb::cli {
namespace {

struct TokenizeOptions {
  std::string tokenizer;
  std::string text;
  bool count = false;
  bool jsonl = false;
  bool decode = false;
  bool skip_special = false;
};

void AppendIds(const std::vector<uint32_t>& ids, std::string* out) {
  out->push_back('[');
  char buf[16];
  for (size_t i = 0; i < ids.size(); ++i) {
    if (i) out->push_back(',');
    auto r = std::to_chars(buf, buf + sizeof(buf), ids[i]);
    out->append(buf, r.ptr);
  }
  out->push_back(']');
}

Result<std::vector<uint32_t>> ParseIds(const std::string& text) {
  try {
    const auto j = nlohmann::json::parse(text);
    if (!j.is_array()) return InvalidArgumentError("--decode expects a JSON array of token ids");
    std::vector<uint32_t> ids;
    for (const auto& v : j) {
      if (!v.is_number_unsigned() || v.get<uint64_t>() > UINT32_MAX) {
        return InvalidArgumentError("--decode: " + v.dump() + " is not a token id");
      }
      ids.push_back(v.get<uint32_t>());
    }
    return ids;
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgumentError(std::string("--decode: not JSON: ") + e.what());
  }
}

std::string JsonString(const std::string& bytes) {
  return nlohmann::json(bytes).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

int Run(const TokenizeOptions& o) {
  auto loaded = tokenize::Tokenizer::FromFile(o.tokenizer);
  if (!loaded.ok()) return Fail(loaded.status());
  const tokenize::Tokenizer& tok = **loaded;
  std::ios::sync_with_stdio(false);

  if (o.jsonl) {
    // One JSON value per input line, one result per output line, in order.
    std::string line, out;
    size_t line_no = 0;
    std::vector<uint32_t> ids;
    while (std::getline(std::cin, line)) {
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.pop_back();
      out.clear();
      if (o.decode) {
        auto parsed = ParseIds(line);
        if (!parsed.ok())
          return Fail(parsed.status().WithContext("stdin line " + std::to_string(line_no)));
        auto text = tok.Decode(*parsed, o.skip_special);
        if (!text.ok())
          return Fail(text.status().WithContext("stdin line " + std::to_string(line_no)));
        out = JsonString(*text);
      } else {
        std::string text;
        try {
          const auto j = nlohmann::json::parse(line);
          if (!j.is_string()) throw std::invalid_argument("not a JSON string");
          text = j.get<std::string>();
        } catch (const std::exception& e) {
          return Fail(InvalidArgumentError("stdin line " + std::to_string(line_no) +
                                           ": --jsonl expects one JSON string per line (" +
                                           e.what() + ")"));
        }
        if (o.count) {
          out = std::to_string(tok.Count(text));
        } else {
          ids.clear();
          tok.EncodeAppend(text, &ids);
          AppendIds(ids, &out);
        }
      }
      out.push_back('\n');
      std::fwrite(out.data(), 1, out.size(), stdout);
    }
    std::fflush(stdout);
    return 0;
  }

  std::string text = o.text;
  if (text == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  if (o.decode) {
    auto parsed = ParseIds(text);
    if (!parsed.ok()) return Fail(parsed.status());
    auto decoded = tok.Decode(*parsed, o.skip_special);
    if (!decoded.ok()) return Fail(decoded.status());
    std::fwrite(decoded->data(), 1, decoded->size(), stdout);
    std::fputc('\n', stdout);
    return 0;
  }
  if (o.count) {
    std::printf("%zu\n", tok.Count(text));
    return 0;
  }
  std::string out;
  AppendIds(tok.Encode(text), &out);
  out.push_back('\n');
  std::fwrite(out.data(), 1, out.size(), stdout);
  return 0;
}

}  // namespace

void RegisterTokenizeCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto o = std::make_shared<TokenizeOptions>();
  auto* cmd = app.add_subcommand(
      "tokenize",
      "token ids of TEXT with a Hugging Face tokenizer.json (byte-level BPE: DeepSeek-V3, Qwen2/3, "
      "...), exactly as the model's reference tokenizer; never adds BOS/EOS");
  cmd->add_option("--tokenizer", o->tokenizer, "path of the tokenizer.json")->required();
  cmd->add_flag("--count", o->count, "print the number of tokens instead of the ids");
  cmd->add_flag("--jsonl", o->jsonl,
                "batch mode: read one JSON string per line from stdin, print one JSON array (or "
                "count) per line; the tokenizer is loaded once");
  cmd->add_flag("--decode", o->decode,
                "the reverse: TEXT (or each --jsonl line) is a JSON array of ids; prints the text "
                "(a JSON string per line with --jsonl)");
  cmd->add_flag("--skip-special", o->skip_special, "with --decode: leave out special tokens");
  cmd->add_option("text", o->text, "the text, or - to read it from stdin");
  cmd->footer(
      "Examples:\n"
      "  deepkb tokenize --tokenizer tokenizer.json 'Hello 世界'      # [19923,223,3427]\n"
      "  deepkb tokenize --tokenizer tokenizer.json --count - < doc.txt\n"
      "  printf '\"a\"\\n\"b c\"\\n' | deepkb tokenize --tokenizer tokenizer.json --jsonl\n"
      "Input that is not valid UTF-8 is read as a WHATWG decoder would (U+FFFD replacements).");
  cmd->callback([o, exit_code] {
    if (!o->jsonl && o->text.empty()) {
      std::fprintf(stderr, "error: give TEXT, - (stdin) or --jsonl\n");
      *exit_code = 2;
      return;
    }
    if (o->jsonl && !o->text.empty()) {
      std::fprintf(stderr, "error: --jsonl reads stdin; do not also give TEXT\n");
      *exit_code = 2;
      return;
    }
    if (o->decode && o->count) {
      std::fprintf(stderr, "error: --decode and --count do not go together\n");
      *exit_code = 2;
      return;
    }
    *exit_code = Run(*o);
  });
  (void)g;
}

}  // namespace deepkb::cli
