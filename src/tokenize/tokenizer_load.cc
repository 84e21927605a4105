// Loading a tokenizer.json (the format: https://huggingface.co/docs/tokenizers — a JSON object
// with "model", "normalizer", "pre_tokenizer", "added_tokens", "decoder", "post_processor").
// nlohmann::json throws; everything here is wrapped so that only Status leaves the module.
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "tokenize/tokenizer.h"
#include "tokenize/tokenizer_impl.h"

namespace deepkb::tokenize {
namespace {

using json = nlohmann::json;

Status Unsupported(std::string what) {
  return UnimplementedError("tokenizer.json: " + what +
                            " is not supported (see docs/tokenizer.md)");
}

Status Invalid(std::string what) {
  return InvalidArgumentError("tokenizer.json: " + what);
}

std::string TypeOf(const json& j) {
  if (!j.is_object() || !j.contains("type") || !j["type"].is_string()) return "";
  return j["type"].get<std::string>();
}

bool IsNullOrFalse(const json& j, const char* key) {
  return !j.contains(key) || j[key].is_null() || (j[key].is_boolean() && !j[key].get<bool>());
}

bool IsNullOrEmptyString(const json& j, const char* key) {
  return !j.contains(key) || j[key].is_null() ||
         (j[key].is_string() && j[key].get<std::string>().empty());
}

// Byte-level string ("Ġthe") → raw bytes (" the"); false when some character is not one of the
// 256 byte characters.
bool ByteLevelToBytes(const std::string& token, const std::array<int, 0x144>& char_to_byte,
                      std::string* out) {
  out->clear();
  size_t i = 0;
  while (i < token.size()) {
    const auto b0 = static_cast<unsigned char>(token[i]);
    char32_t cp;
    if (b0 < 0x80) {
      cp = b0;
      i += 1;
    } else if ((b0 & 0xE0) == 0xC0 && i + 1 < token.size()) {
      cp = ((b0 & 0x1F) << 6) | (static_cast<unsigned char>(token[i + 1]) & 0x3F);
      i += 2;
    } else {
      return false;  // every byte character is below U+0800
    }
    if (cp >= char_to_byte.size() || char_to_byte[cp] < 0) return false;
    out->push_back(static_cast<char>(char_to_byte[cp]));
  }
  return true;
}

// Appends the UTF-8 encoding of a code point below U+0800 (all byte-level characters are).
void AppendUtf8(char32_t cp, std::string* out) {
  if (cp < 0x80) {
    out->push_back(static_cast<char>(cp));
  } else {
    out->push_back(static_cast<char>(0xC0 | (cp >> 6)));
    out->push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

Status LoadNormalizer(const json& n, Tokenizer::Impl* impl) {
  if (n.is_null()) return Status::Ok();
  const std::string type = TypeOf(n);
  if (type == "NFC") {
    impl->normalizer = Tokenizer::Impl::Normalizer::kNfc;
    return Status::Ok();
  }
  if (type == "Sequence" && n.contains("normalizers") && n["normalizers"].is_array()) {
    for (const json& child : n["normalizers"]) RETURN_IF_ERROR(LoadNormalizer(child, impl));
    return Status::Ok();
  }
  return Unsupported("normalizer '" + (type.empty() ? n.dump() : type) + "'");
}

Status LoadPreTokenizer(const json& p, Tokenizer::Impl* impl) {
  if (p.is_null()) return Unsupported("a missing pre_tokenizer (byte-level BPE needs ByteLevel)");
  std::vector<json> steps;
  if (TypeOf(p) == "Sequence") {
    if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) {
      return Invalid("pre_tokenizer Sequence without 'pretokenizers'");
    }
    for (const json& s : p["pretokenizers"]) steps.push_back(s);
  } else {
    steps.push_back(p);
  }
  std::vector<internal::SplitKind> stages;
  bool byte_level = false;
  for (size_t i = 0; i < steps.size(); ++i) {
    const json& s = steps[i];
    const std::string type = TypeOf(s);
    if (type == "Split") {
      if (byte_level) return Unsupported("a Split pre-tokenizer after ByteLevel");
      const json& pat = s.value("pattern", json());
      if (!pat.is_object() || !pat.contains("Regex") || !pat["Regex"].is_string()) {
        return Unsupported("Split pattern " + pat.dump() + " (only the known Regex patterns are)");
      }
      const std::string behavior = s.value("behavior", std::string());
      if (behavior != "Isolated") return Unsupported("Split behavior '" + behavior + "'");
      if (!IsNullOrFalse(s, "invert")) return Unsupported("Split with invert=true");
      const std::string regex = pat["Regex"].get<std::string>();
      const auto kind = internal::SplitKindForRegex(regex);
      if (!kind) return Unsupported("Split regex " + json(regex).dump());
      stages.push_back(*kind);
    } else if (type == "ByteLevel") {
      if (byte_level) return Unsupported("two ByteLevel pre-tokenizers");
      if (!IsNullOrFalse(s, "add_prefix_space")) return Unsupported("ByteLevel add_prefix_space");
      if (!s.contains("use_regex") || !s["use_regex"].is_boolean() || s["use_regex"].get<bool>()) {
        return Unsupported("ByteLevel use_regex=true (the built-in GPT-2 split)");
      }
      byte_level = true;
    } else {
      return Unsupported("pre_tokenizer '" + (type.empty() ? s.dump() : type) + "'");
    }
  }
  if (!byte_level) return Unsupported("a pre_tokenizer without ByteLevel (non byte-level BPE)");
  impl->pre_tokenizer = internal::PreTokenizer(std::move(stages));
  return Status::Ok();
}

Status CheckPostProcessor(const json& p) {
  if (p.is_null()) return Status::Ok();
  const std::string type = TypeOf(p);
  if (type == "ByteLevel" || type == "TemplateProcessing") return Status::Ok();
  if (type == "Sequence" && p.contains("processors") && p["processors"].is_array()) {
    for (const json& c : p["processors"]) RETURN_IF_ERROR(CheckPostProcessor(c));
    return Status::Ok();
  }
  return Unsupported("post_processor '" + (type.empty() ? p.dump() : type) + "'");
}

Result<std::unique_ptr<Tokenizer::Impl>> Build(const json& root) {
  auto impl = std::make_unique<Tokenizer::Impl>();
  if (!root.is_object()) return Invalid("not a JSON object");
  if (!root.contains("model") || !root["model"].is_object()) return Invalid("no 'model' object");
  const json& model = root["model"];

  // --- model ---
  const std::string model_type = TypeOf(model);
  if (model_type != "BPE" && !(model_type.empty() && model.contains("merges"))) {
    return Unsupported("model type '" + model_type + "' (only BPE is)");
  }
  if (model.contains("dropout") && !model["dropout"].is_null()) return Unsupported("BPE dropout");
  if (!IsNullOrFalse(model, "byte_fallback")) return Unsupported("BPE byte_fallback");
  if (!IsNullOrFalse(model, "ignore_merges")) return Unsupported("BPE ignore_merges");
  if (!IsNullOrEmptyString(model, "continuing_subword_prefix")) {
    return Unsupported("BPE continuing_subword_prefix");
  }
  if (!IsNullOrEmptyString(model, "end_of_word_suffix"))
    return Unsupported("BPE end_of_word_suffix");
  if (!model.contains("vocab") || !model["vocab"].is_object()) return Invalid("model has no vocab");
  if (!model.contains("merges") || !model["merges"].is_array())
    return Invalid("model has no merges");

  const std::array<char32_t, 256> b2u = ByteToUnicode();
  std::array<int, 0x144> char_to_byte;
  char_to_byte.fill(-1);
  for (int b = 0; b < 256; ++b) char_to_byte[b2u[b]] = b;

  const json& vocab = model["vocab"];
  uint64_t max_id = 0;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    if (!it.value().is_number_unsigned()) return Invalid("vocab id of " + json(it.key()).dump());
    max_id = std::max<uint64_t>(max_id, it.value().get<uint64_t>());
  }
  if (max_id >= (1u << 31)) return Invalid("vocab id too large");
  impl->id_to_token.assign(max_id + 1, std::string());
  impl->id_to_bytes.assign(max_id + 1, std::string());
  impl->token_to_id.reserve(vocab.size() * 2);
  std::string bytes;
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const auto id = it.value().get<uint32_t>();
    if (!impl->id_to_token[id].empty())
      return Invalid("vocab id " + std::to_string(id) + " repeats");
    impl->id_to_token[id] = it.key();
    impl->token_to_id.emplace(it.key(), id);
    if (ByteLevelToBytes(it.key(), char_to_byte, &bytes)) {
      impl->id_to_bytes[id] = bytes;
    } else {
      impl->id_to_bytes[id] = it.key();  // not producible by BPE; decodes as its own text
    }
  }
  impl->vocab_count = vocab.size();
  uint32_t byte_ids[256];
  for (int b = 0; b < 256; ++b) {
    std::string byte_token;
    AppendUtf8(b2u[b], &byte_token);
    auto it = impl->token_to_id.find(byte_token);
    if (it == impl->token_to_id.end()) {
      return Unsupported("a vocabulary without the byte token for byte " + std::to_string(b));
    }
    byte_ids[b] = it->second;
  }
  impl->bpe.SetByteIds(byte_ids);

  const json& merges = model["merges"];
  impl->bpe.Reserve(merges.size());
  std::string left, right, joined;
  for (size_t rank = 0; rank < merges.size(); ++rank) {
    const json& m = merges[rank];
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      if (sp == std::string::npos || s.find(' ', sp + 1) != std::string::npos) {
        return Invalid("merge " + m.dump() + " is not two tokens separated by one space");
      }
      left = s.substr(0, sp);
      right = s.substr(sp + 1);
    } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
      left = m[0].get<std::string>();
      right = m[1].get<std::string>();
    } else {
      return Invalid("merge " + m.dump() + " has an unknown shape");
    }
    auto l = impl->token_to_id.find(left);
    auto r = impl->token_to_id.find(right);
    joined.assign(left).append(right);
    auto merged = impl->token_to_id.find(joined);
    if (l == impl->token_to_id.end() || r == impl->token_to_id.end() ||
        merged == impl->token_to_id.end()) {
      return Invalid("merge " + m.dump() + " (rank " + std::to_string(rank) +
                     ") uses or makes a token that is not in the vocabulary");
    }
    impl->bpe.AddMerge(l->second, r->second, merged->second);
  }
  impl->merge_count = merges.size();

  // --- normalizer, pre-tokenizer, decoder, post-processor ---
  RETURN_IF_ERROR(LoadNormalizer(root.value("normalizer", json()), impl.get()));
  RETURN_IF_ERROR(LoadPreTokenizer(root.value("pre_tokenizer", json()), impl.get()));
  const json decoder = root.value("decoder", json());
  if (!decoder.is_null() && TypeOf(decoder) != "ByteLevel") {
    return Unsupported("decoder '" + TypeOf(decoder) + "'");
  }
  RETURN_IF_ERROR(CheckPostProcessor(root.value("post_processor", json())));

  // --- added tokens ---
  impl->id_to_added.assign(impl->id_to_token.size(), -1);
  if (root.contains("added_tokens") && !root["added_tokens"].is_null()) {
    const json& added = root["added_tokens"];
    if (!added.is_array()) return Invalid("added_tokens is not an array");
    for (const json& a : added) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_unsigned() ||
          !a.contains("content") || !a["content"].is_string()) {
        return Invalid("added token " + a.dump() + " lacks id or content");
      }
      AddedToken t;
      t.content = a["content"].get<std::string>();
      const uint64_t id64 = a["id"].get<uint64_t>();
      if (id64 >= (1u << 31)) return Invalid("added token id too large");
      t.id = static_cast<uint32_t>(id64);
      t.special = a.value("special", false);
      t.lstrip = a.value("lstrip", false);
      t.rstrip = a.value("rstrip", false);
      t.normalized = a.value("normalized", !t.special);
      if (a.value("single_word", false)) return Unsupported("added token single_word");
      if (t.content.empty()) return Invalid("added token " + a.dump() + " is empty");
      if (t.normalized && impl->normalizer != Tokenizer::Impl::Normalizer::kNone) {
        return Unsupported("added token " + json(t.content).dump() +
                           " with normalized=true under a normalizer");
      }
      if (t.id >= impl->id_to_token.size()) {
        impl->id_to_token.resize(t.id + 1);
        impl->id_to_bytes.resize(t.id + 1);
        impl->id_to_added.resize(t.id + 1, -1);
      }
      impl->id_to_token[t.id] = t.content;
      impl->id_to_bytes[t.id] = t.content;
      const auto index = static_cast<uint32_t>(impl->added_tokens.size());
      impl->id_to_added[t.id] = static_cast<int32_t>(index);
      impl->token_to_id[t.content] = t.id;
      impl->added_matcher.Add(t.content, index);
      impl->any_strip = impl->any_strip || t.lstrip || t.rstrip;
      impl->added_tokens.push_back(std::move(t));
    }
  }

  std::string stages;
  for (internal::SplitKind k : impl->pre_tokenizer.stages()) {
    if (!stages.empty()) stages += " → ";
    stages += json(std::string(internal::RegexForSplitKind(k))).dump();
  }
  impl->describe =
      "BPE: " + std::to_string(impl->vocab_count) + " vocab, " + std::to_string(impl->merge_count) +
      " merges, " + std::to_string(impl->added_tokens.size()) + " added tokens; normalizer: " +
      (impl->normalizer == Tokenizer::Impl::Normalizer::kNfc ? "NFC" : "none") +
      "; pre-tokenizer: Split " + (stages.empty() ? "(none)" : stages) + " → ByteLevel";
  return impl;
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromJson(std::string_view text) {
  try {
    const json root = json::parse(text);
    ASSIGN_OR_RETURN(auto impl, Build(root));
    return std::unique_ptr<Tokenizer>(new Tokenizer(std::move(impl)));
  } catch (const json::exception& e) {
    return Invalid(std::string("malformed: ") + e.what());
  } catch (const std::bad_alloc&) {
    return ResourceExhaustedError("tokenizer.json: out of memory while loading");
  }
}

Result<std::unique_ptr<Tokenizer>> Tokenizer::FromFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return NotFoundError("cannot read tokenizer file '" + path + "'");
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return NotFoundError("cannot read tokenizer file '" + path + "'");
  auto r = FromJson(buf.str());
  if (!r.ok()) return r.status().WithContext(path);
  return r;
}

}  // namespace deepkb::tokenize
