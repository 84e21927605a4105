#include "embed/embedder.h"

#include <string_view>

#include "embed/ngram_hash_embedder.h"
#include "embed/openai_embedder.h"

namespace deepkb::embed {
namespace {

constexpr std::string_view kValidForms =
    "valid forms: \"ngram-hash\", \"ngram-hash:DIM\" (DIM 32..4096, default 256), "
    "\"openai:MODEL@URL\" (e.g. \"openai:bge-m3@http://127.0.0.1:8000\")";

Status SpecError(const std::string& spec, std::string_view why) {
  return InvalidArgumentError("embedder \"" + spec + "\": " + std::string(why) + "; " +
                              std::string(kValidForms));
}

}  // namespace

Result<std::unique_ptr<Embedder>> MakeEmbedder(const std::string& spec,
                                               const EmbedderOptions& opts) {
  constexpr std::string_view kNgram = "ngram-hash";
  constexpr std::string_view kOpenAi = "openai:";
  const std::string_view s = spec;
  if (s == kNgram) {
    ASSIGN_OR_RETURN(auto e, NgramHashEmbedder::Create(spec, kNgramHashDefaultDim));
    return std::unique_ptr<Embedder>(std::move(e));
  }
  if (s.substr(0, kNgram.size() + 1) == "ngram-hash:") {
    const std::string_view digits = s.substr(kNgram.size() + 1);
    if (digits.empty() || digits.size() > 6 ||
        digits.find_first_not_of("0123456789") != std::string_view::npos) {
      return SpecError(spec, "DIM must be a whole number");
    }
    const size_t dim = std::stoul(std::string(digits));
    if (dim < kNgramHashMinDim || dim > kNgramHashMaxDim) {
      return SpecError(spec, "DIM " + std::string(digits) + " is out of range");
    }
    ASSIGN_OR_RETURN(auto e, NgramHashEmbedder::Create(spec, dim));
    return std::unique_ptr<Embedder>(std::move(e));
  }
  if (s.substr(0, kOpenAi.size()) == kOpenAi) {
    auto e = OpenAiEmbedder::Create(spec, opts);
    if (!e.ok()) return e.status();
    return std::unique_ptr<Embedder>(std::move(e).value());
  }
  if (s.empty()) return SpecError(spec, "empty spec");
  return SpecError(spec, "unknown kind");
}

Result<size_t> Probe(Embedder& embedder) {
  ASSIGN_OR_RETURN(auto vectors, embedder.Embed({std::string("deepkb embedder probe")}));
  if (vectors.size() != 1 || vectors.front().empty()) {
    return InternalError("embedder " + embedder.spec() + " returned no vector for the probe text");
  }
  const size_t dim = vectors.front().size();
  if (embedder.dim() != 0 && embedder.dim() != dim) {
    return InternalError("embedder " + embedder.spec() + " reports dimension " +
                         std::to_string(embedder.dim()) + " but returned " + std::to_string(dim));
  }
  return dim;
}

}  // namespace deepkb::embed
