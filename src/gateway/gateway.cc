// Gateway core: model resolution, retrieval, packing and the OpenAI-shaped answers.
#include "gateway/gateway.h"

#include <algorithm>
#include <chrono>
#include <cstring>
#include <future>
#include <map>
#include <set>

#include "common/hash.h"
#include "common/utf8.h"
#include "embed/embedder.h"
#include "gateway/rag.h"
#include "llm/llm_metrics.h"
#include "llm/openai_upstream.h"
#include "tokenize/tokenizer.h"

namespace deepkb::gateway {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxMessages = 1000;
constexpr size_t kMaxEmbeddingInputs = 2048;
constexpr size_t kMaxKnowledgeCollections = 16;
constexpr int kMaxTopK = 50;
// Tokens an OpenAI-style chat template adds around each message (role markers, separators).
constexpr size_t kPerMessageTokens = 8;

int64_t UnixSeconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Base64(const void* data, size_t n) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  const auto* p = static_cast<const unsigned char*>(data);
  std::string out;
  out.reserve((n + 2) / 3 * 4);
  for (size_t i = 0; i < n; i += 3) {
    const uint32_t v = (uint32_t{p[i]} << 16) | (i + 1 < n ? uint32_t{p[i + 1]} << 8 : 0) |
                       (i + 2 < n ? uint32_t{p[i + 2]} : 0);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += i + 1 < n ? kAlphabet[(v >> 6) & 63] : '=';
    out += i + 2 < n ? kAlphabet[v & 63] : '=';
  }
  return out;
}

// Text of one message's content: a string, or the text parts of an array of parts.
std::string ContentText(const json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string out;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object() && part.value("type", "") == "text" && part.contains("text") &&
          part["text"].is_string()) {
        if (!out.empty()) out += '\n';
        out += part["text"].get<std::string>();
      }
    }
  }
  return out;
}

Status ValidateMessages(const json& messages) {
  if (!messages.is_array() || messages.empty()) {
    return InvalidArgumentError("'messages' must be a non-empty array of {\"role\", \"content\"}");
  }
  if (messages.size() > kMaxMessages) {
    return InvalidArgumentError("too many messages (at most " + std::to_string(kMaxMessages) + ")");
  }
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      return InvalidArgumentError(where + " must be an object with a string 'role'");
    }
    const std::string role = m["role"].get<std::string>();
    static const std::set<std::string> kRoles = {"system", "developer", "user", "assistant", "tool"};
    if (!kRoles.count(role)) {
      return InvalidArgumentError(where + ".role '" + utf8::Sanitize(role.substr(0, 32)) +
                                  "' must be system, developer, user, assistant or tool");
    }
    if (m.contains("content") && !m["content"].is_null() && !m["content"].is_string() &&
        !m["content"].is_array()) {
      return InvalidArgumentError(where + ".content must be a string or an array of parts");
    }
  }
  return Status::Ok();
}

// "Down" as far as the extractive fallback is concerned: no upstream could answer at all.
bool IsDown(const Status& s) {
  return s.code() == StatusCode::kUnavailable || s.code() == StatusCode::kInternal;
}

struct Retrieval {
  std::vector<std::string> collections;
  std::string mode = "auto";
  int top_k = 8;
};

struct UpstreamModel {
  std::unique_ptr<TokenCounter> counter;
  size_t context_tokens = 0;
};

}  // namespace

struct Gateway::Impl {
  GatewayConfig config;
  kb::KnowledgeBase* kb = nullptr;
  std::unique_ptr<llm::LlmMetrics> llm_metrics;
  std::unique_ptr<llm::Router> router;           // null when no upstream is configured
  std::map<std::string, UpstreamModel> models;  // served model → its tokenizer and context
  std::vector<std::string> model_order;
  std::map<std::string, KnowledgeAlias> aliases;
  std::map<std::string, std::unique_ptr<RemoteKb>> remotes;
  std::unique_ptr<TokenCounter> estimate = MakeEstimateCounter();
  std::unique_ptr<embed::Embedder> default_embedder;

  Status CheckCollections(const auth::Principal& who, const std::vector<std::string>& refs) const;
  Result<std::vector<Passage>> SearchOne(const std::string& ref, const std::string& query,
                                         const Retrieval& r, llm::Deadline deadline,
                                         std::string* note) const;
  Result<std::vector<std::vector<Passage>>> Retrieve(const Retrieval& r, const std::string& query,
                                                     llm::Deadline deadline,
                                                     std::vector<std::string>& notes) const;
  Status Chat(const auth::Principal& who, const json& request, const ChunkSink& emit,
              bool* started, double* retry_after);
};

Gateway::Gateway(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Gateway::~Gateway() = default;

const GatewayConfig& Gateway::config() const { return impl_->config; }
bool Gateway::has_upstreams() const { return impl_->router != nullptr; }

Result<std::unique_ptr<Gateway>> Gateway::Create(
    GatewayConfig config, kb::KnowledgeBase* kb, metrics::Registry* registry,
    std::vector<std::unique_ptr<llm::LlmUpstream>> upstreams) {
  auto impl = std::make_unique<Impl>();
  impl->kb = kb;
  if (!upstreams.empty() && upstreams.size() != config.upstreams.size()) {
    return InvalidArgumentError("test upstreams must match the configured upstream list");
  }
  std::vector<std::unique_ptr<llm::LlmUpstream>> clients;
  for (size_t i = 0; i < config.upstreams.size(); ++i) {
    const UpstreamSpec& spec = config.upstreams[i];
    if (upstreams.empty()) {
      ASSIGN_OR_RETURN(auto client, llm::CreateOpenAiUpstream(spec.config));
      clients.push_back(std::move(client));
    } else {
      clients.push_back(std::move(upstreams[i]));
    }
    std::shared_ptr<const tokenize::Tokenizer> tok;
    if (!spec.tokenizer_file.empty()) {
      auto t = tokenize::Tokenizer::FromFile(spec.tokenizer_file);
      if (!t.ok()) {
        return Status(t.status().code(), "--upstream " + spec.config.name + ": tokenizer: " +
                                             t.status().message());
      }
      tok = std::shared_ptr<const tokenize::Tokenizer>(std::move(*t));
    }
    for (const std::string& m : spec.config.models) {
      if (impl->models.count(m)) continue;  // the first upstream's settings describe the model
      UpstreamModel um;
      um.counter = tok ? MakeBpeCounter(tok, spec.tokenizer_file) : MakeEstimateCounter();
      um.context_tokens = spec.context_tokens ? spec.context_tokens : config.default_context_tokens;
      impl->models.emplace(m, std::move(um));
      impl->model_order.push_back(m);
    }
  }
  if (!clients.empty()) {
    if (registry) impl->llm_metrics = llm::RegisterLlmMetrics(*registry);
    ASSIGN_OR_RETURN(impl->router, llm::Router::Create(std::move(clients), config.router,
                                                       impl->llm_metrics.get()));
  }
  for (const RemoteKbConfig& rc : config.remote_kbs) {
    if (impl->remotes.count(rc.name)) {
      return InvalidArgumentError("remote KB '" + rc.name + "' is configured twice");
    }
    ASSIGN_OR_RETURN(auto remote, RemoteKb::Create(rc));
    impl->remotes.emplace(rc.name, std::move(remote));
  }
  for (const KnowledgeAlias& a : config.aliases) {
    if (impl->aliases.count(a.name)) {
      return InvalidArgumentError("knowledge alias '" + a.name + "' is configured twice");
    }
    if (impl->models.count(a.name)) {
      return InvalidArgumentError("knowledge alias '" + a.name +
                                  "' has the name of an upstream model; pick another name");
    }
    if (a.model != "extractive" && impl->router && !impl->models.count(a.model)) {
      return InvalidArgumentError("knowledge alias '" + a.name + "' answers with model '" +
                                  a.model + "', which no --upstream serves (add model=" + a.model +
                                  " to one, or use 'extractive')");
    }
    for (const std::string& ref : a.collections) {
      const auto [remote, coll] = SplitCollectionRef(ref);
      if (!remote.empty() && !impl->remotes.count(remote)) {
        return InvalidArgumentError("knowledge alias '" + a.name + "' names collection '" + ref +
                                    "' of remote KB '" + remote + "', which no --remote-kb defines");
      }
    }
    impl->aliases.emplace(a.name, a);
  }
  ASSIGN_OR_RETURN(impl->default_embedder, embed::MakeEmbedder("ngram-hash"));
  impl->config = std::move(config);
  return std::unique_ptr<Gateway>(new Gateway(std::move(impl)));
}

Status Gateway::Impl::CheckCollections(const auth::Principal& who,
                                       const std::vector<std::string>& refs) const {
  for (const std::string& ref : refs) {
    const auto [remote, coll] = SplitCollectionRef(ref);
    if (coll.empty() || (ref.find('/') != std::string::npos && remote.empty())) {
      return InvalidArgumentError("collection '" + utf8::Sanitize(ref) +
                                  "' must be NAME (this node) or KB/NAME (a remote KB)");
    }
    if (!remote.empty() && !remotes.count(remote)) {
      return NotFoundError("no remote knowledge base '" + utf8::Sanitize(remote) +
                           "' is configured on this gateway (collection '" + utf8::Sanitize(ref) +
                           "')");
    }
    RETURN_IF_ERROR(auth::Authorize(who, auth::Permission::kRead, ref));
  }
  return Status::Ok();
}

Result<std::vector<Passage>> Gateway::Impl::SearchOne(const std::string& ref,
                                                      const std::string& query, const Retrieval& r,
                                                      llm::Deadline deadline,
                                                      std::string* note) const {
  const auto [remote, coll] = SplitCollectionRef(ref);
  kb::SearchRequest req;
  req.collection = coll;
  req.query = query;
  req.mode = r.mode;
  req.top_k = r.top_k;
  std::vector<kb::SearchHit> hits;
  if (remote.empty()) {
    if (!kb) return FailedPreconditionError("this gateway has no local knowledge base");
    ASSIGN_OR_RETURN(kb::SearchResponse resp, kb->Search(req));
    hits = std::move(resp.hits);
  } else {
    ASSIGN_OR_RETURN(RemoteSearchResult rr, remotes.at(remote)->Search(req, deadline));
    hits = std::move(rr.hits);
    if (!rr.note.empty()) *note = rr.note;
  }
  std::vector<Passage> out;
  out.reserve(hits.size());
  int rank = 0;
  for (kb::SearchHit& h : hits) {
    Passage p;
    p.kb = remote;
    p.collection = coll;
    p.doc_id = std::move(h.doc_id);
    p.chunk_id = h.chunk_id;
    p.score = h.score;
    p.rank = ++rank;
    p.text = std::move(h.text);
    p.title = std::move(h.title);
    p.source = std::move(h.source);
    p.heading_path = std::move(h.heading_path);
    p.page = h.page;
    out.push_back(std::move(p));
  }
  return out;
}

// Searches every collection (remote ones in parallel, they wait on the network). A collection
// that fails is reported in `notes` when others answered; when all fail, the first error.
Result<std::vector<std::vector<Passage>>> Gateway::Impl::Retrieve(
    const Retrieval& r, const std::string& query, llm::Deadline deadline,
    std::vector<std::string>& notes) const {
  std::vector<std::future<Result<std::vector<Passage>>>> pending(r.collections.size());
  std::vector<std::string> source_notes(r.collections.size());
  for (size_t i = 0; i < r.collections.size(); ++i) {
    if (SplitCollectionRef(r.collections[i]).first.empty()) continue;
    pending[i] = std::async(std::launch::async, [this, &r, &query, deadline, &source_notes, i] {
      return SearchOne(r.collections[i], query, r, deadline, &source_notes[i]);
    });
  }
  std::vector<std::vector<Passage>> sources;
  Status first_error;
  for (size_t i = 0; i < r.collections.size(); ++i) {
    Result<std::vector<Passage>> res =
        pending[i].valid() ? pending[i].get()
                           : SearchOne(r.collections[i], query, r, deadline, &source_notes[i]);
    if (!source_notes[i].empty()) notes.push_back(source_notes[i]);
    if (!res.ok()) {
      // A collection that does not exist or may not be read is the caller's mistake: say so.
      const StatusCode c = res.status().code();
      if (c == StatusCode::kNotFound || c == StatusCode::kInvalidArgument ||
          c == StatusCode::kPermissionDenied || c == StatusCode::kUnauthenticated) {
        // Wait for the rest before returning (the futures reference this frame).
        for (size_t j = i + 1; j < pending.size(); ++j) {
          if (pending[j].valid()) pending[j].wait();
        }
        return res.status();
      }
      if (first_error.ok()) first_error = res.status();
      notes.push_back("collection '" + r.collections[i] + "' could not be searched: " +
                      res.status().message());
      continue;
    }
    sources.push_back(std::move(*res));
  }
  if (sources.empty() && !first_error.ok()) return first_error;
  return sources;
}

Status Gateway::Chat(const auth::Principal& who, const json& request, const ChunkSink& emit,
                     bool* started, double* retry_after_seconds) {
  bool local_started = false;
  double local_retry = -1;
  Status s = impl_->Chat(who, request, emit, started ? started : &local_started,
                         retry_after_seconds ? retry_after_seconds : &local_retry);
  return s;
}

Status Gateway::Impl::Chat(const auth::Principal& who, const json& request, const ChunkSink& emit,
                           bool* started, double* retry_after) {
  *started = false;
  *retry_after = -1;
  if (!request.is_object()) return InvalidArgumentError("the request body must be a JSON object");
  if (!request.contains("model") || !request["model"].is_string() ||
      request["model"].get<std::string>().empty()) {
    return InvalidArgumentError(
        "'model' is required: an upstream model or a knowledge alias (GET /v1/models lists them)");
  }
  const std::string model = request["model"].get<std::string>();
  bool stream = false;
  if (request.contains("stream") && !request["stream"].is_null()) {
    if (!request["stream"].is_boolean()) return InvalidArgumentError("'stream' must be true or false");
    stream = request["stream"].get<bool>();
  }
  if (!request.contains("messages")) return InvalidArgumentError("'messages' is required");
  RETURN_IF_ERROR(ValidateMessages(request["messages"]));
  if (request.contains("n") && !(request["n"].is_number_integer() && request["n"].get<int64_t>() == 1)) {
    return InvalidArgumentError("'n' must be 1: the gateway returns one choice per request");
  }
  bool include_usage = false;
  if (request.contains("stream_options") && request["stream_options"].is_object()) {
    include_usage = request["stream_options"].value("include_usage", false);
  }
  int64_t max_answer = -1;
  for (const char* f : {"max_tokens", "max_completion_tokens"}) {
    if (request.contains(f) && !request[f].is_null()) {
      if (!request[f].is_number_integer() || request[f].get<int64_t>() < 1) {
        return InvalidArgumentError(std::string("'") + f + "' must be a positive integer");
      }
      max_answer = request[f].get<int64_t>();
    }
  }

  // Retrieval settings: the alias's, then the request's `knowledge` field.
  Retrieval retrieval;
  retrieval.top_k = config.default_top_k;
  std::string upstream_model = model;
  bool fallback_allowed = false;
  if (auto it = aliases.find(model); it != aliases.end()) {
    retrieval.collections = it->second.collections;
    retrieval.top_k = it->second.top_k;
    retrieval.mode = it->second.mode;
    upstream_model = it->second.model;
    fallback_allowed = true;
  } else if (model != "extractive" && !models.count(model)) {
    std::string offered;
    for (const auto& m : model_order) offered += (offered.empty() ? "" : ", ") + m;
    for (const auto& [name, a] : aliases) offered += (offered.empty() ? "" : ", ") + name;
    offered += (offered.empty() ? "" : ", ") + std::string("extractive");
    return NotFoundError("model '" + utf8::Sanitize(model.substr(0, 128)) +
                         "' is neither an upstream model nor a knowledge alias of this gateway" +
                         (router ? std::string() : std::string(" (no upstream is configured)")) +
                         "; available: " + offered);
  }
  if (request.contains("knowledge") && !request["knowledge"].is_null()) {
    const json& k = request["knowledge"];
    if (!k.is_object()) return InvalidArgumentError("'knowledge' must be an object");
    RETURN_IF_ERROR(server::RejectUnknownFields(k, {"collections", "top_k", "mode"}));
    if (!k.contains("collections") || !k["collections"].is_array() || k["collections"].empty()) {
      return InvalidArgumentError("'knowledge.collections' must be a non-empty array of names");
    }
    if (k["collections"].size() > kMaxKnowledgeCollections) {
      return InvalidArgumentError("'knowledge.collections' names at most " +
                                  std::to_string(kMaxKnowledgeCollections) + " collections");
    }
    for (const json& c : k["collections"]) {
      if (!c.is_string() || c.get<std::string>().empty()) {
        return InvalidArgumentError("'knowledge.collections' must hold collection names (strings)");
      }
      const std::string name = c.get<std::string>();
      if (std::find(retrieval.collections.begin(), retrieval.collections.end(), name) ==
          retrieval.collections.end()) {
        retrieval.collections.push_back(name);
      }
    }
    RETURN_IF_ERROR(server::ReadField(k, "top_k", retrieval.top_k));
    if (retrieval.top_k < 1 || retrieval.top_k > kMaxTopK) {
      return InvalidArgumentError("'knowledge.top_k' must be from 1 to " + std::to_string(kMaxTopK));
    }
    RETURN_IF_ERROR(server::ReadField(k, "mode", retrieval.mode));
    if (retrieval.mode != "auto" && retrieval.mode != "hybrid" && retrieval.mode != "keyword" &&
        retrieval.mode != "vector") {
      return InvalidArgumentError("'knowledge.mode' must be auto, hybrid, keyword or vector");
    }
  }
  if (model == "extractive" && retrieval.collections.empty()) {
    return InvalidArgumentError(
        "model 'extractive' answers from the knowledge base only: name collections in "
        "'knowledge': {\"collections\": [...]}");
  }
  RETURN_IF_ERROR(CheckCollections(who, retrieval.collections));

  const json& messages = request["messages"];
  const std::string question = LastUserText(messages);
  if (!retrieval.collections.empty() && question.empty()) {
    return InvalidArgumentError("no user message with text to answer (the last 'user' message)");
  }
  const bool use_llm = upstream_model != "extractive" && router && models.count(upstream_model);
  std::vector<std::string> notes;
  if (!use_llm && upstream_model != "extractive") {
    notes.push_back("no language model is configured for '" + upstream_model +
                    "'; the answer is extractive");
  }
  const llm::Deadline deadline =
      llm::Clock::now() + std::chrono::duration_cast<llm::Clock::duration>(
                              std::chrono::duration<double>(config.request_timeout_seconds));

  // Retrieval and packing.
  PackedContext ctx;
  const Language lang = DetectLanguage(question.empty() ? ContentText(messages.back().value("content", json())) : question);
  if (!retrieval.collections.empty()) {
    ASSIGN_OR_RETURN(auto sources, Retrieve(retrieval, question, deadline, notes));
    std::vector<Passage> merged = MergeSources(std::move(sources));
    const TokenCounter& counter = use_llm ? *models.at(upstream_model).counter : *estimate;
    PackOptions po;
    po.max_passages = config.max_passages;
    if (use_llm) {
      size_t used = PromptOverheadTokens(counter, lang);
      for (const json& m : messages) {
        used += kPerMessageTokens + counter.Count(ContentText(m.value("content", json())));
      }
      const size_t reserve = max_answer > 0 ? static_cast<size_t>(max_answer) : config.answer_reserve_tokens;
      const size_t context = models.at(upstream_model).context_tokens;
      if (used + reserve + po.min_passage_tokens > context) {
        return InvalidArgumentError(
            "the conversation (about " + std::to_string(used) + " tokens) plus the answer (" +
            std::to_string(reserve) + " tokens) leaves no room for knowledge passages in model '" +
            upstream_model + "' (context " + std::to_string(context) +
            " tokens); shorten the conversation or lower max_tokens");
      }
      po.budget_tokens = context - used - reserve;
    } else {
      po.budget_tokens = std::numeric_limits<size_t>::max() / 4;
    }
    ctx = Pack(std::move(merged), counter, po);
  }

  const std::string id = "chatcmpl-" + RandomHex(12);
  const int64_t created = UnixSeconds();
  const auto knowledge_json = [&]() {
    json k = {{"collections", retrieval.collections},
              {"mode", retrieval.mode},
              {"passages", ctx.passages.size()}};
    if (!notes.empty()) k["notes"] = notes;
    return k;
  };
  const auto citations = [&](const std::string& answer) {
    json c = CitationsJson(ctx);
    const std::vector<int> cited = CitedIndices(answer, ctx.passages.size());
    for (json& e : c) {
      const int n = e.value("index", 0);
      e["cited"] = std::find(cited.begin(), cited.end(), n) != cited.end();
    }
    return c;
  };

  // The extractive answer: no model, or (for aliases) every upstream down.
  const auto extractive = [&](const std::string& why) -> Status {
    if (!why.empty()) notes.push_back(why);
    const std::string answer = ExtractiveAnswer(ctx, question, lang);
    if (!stream) {
      json out = {{"id", id},
                  {"object", "chat.completion"},
                  {"created", created},
                  {"model", "extractive"},
                  {"choices", json::array({{{"index", 0},
                                            {"message", {{"role", "assistant"}, {"content", answer}}},
                                            {"finish_reason", "stop"}}})},
                  {"usage", {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}}},
                  {"citations", citations(answer)},
                  {"knowledge", knowledge_json()}};
      *started = true;
      return emit(out) ? Status::Ok() : Status(StatusCode::kAborted, "the client went away");
    }
    const auto chunk = [&](json delta, json finish) {
      return json{{"id", id},
                  {"object", "chat.completion.chunk"},
                  {"created", created},
                  {"model", "extractive"},
                  {"choices", json::array({{{"index", 0}, {"delta", std::move(delta)},
                                            {"finish_reason", std::move(finish)}}})}};
    };
    *started = true;
    if (!emit(chunk({{"role", "assistant"}, {"content", answer}}, nullptr)) ||
        !emit(chunk(json::object(), "stop"))) {
      return Status(StatusCode::kAborted, "the client went away");
    }
    json tail = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created},
                 {"model", "extractive"}, {"choices", json::array()},
                 {"citations", citations(answer)}, {"knowledge", knowledge_json()}};
    if (!emit(tail)) return Status(StatusCode::kAborted, "the client went away");
    if (include_usage) {
      json usage = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created},
                    {"model", "extractive"}, {"choices", json::array()},
                    {"usage", {{"prompt_tokens", 0}, {"completion_tokens", 0}, {"total_tokens", 0}}}};
      if (!emit(usage)) return Status(StatusCode::kAborted, "the client went away");
    }
    return Status::Ok();
  };
  if (!use_llm) return extractive("");

  // The upstream request: the client's body with our context in front of its messages.
  llm::ChatRequest creq;
  creq.model = upstream_model;
  creq.body = request;
  creq.body.erase("knowledge");
  creq.body.erase("model");
  creq.body.erase("stream");
  if (!retrieval.collections.empty()) creq.body["messages"] = WithContext(messages, ctx, lang);

  llm::RouteInfo info;
  if (!stream) {
    Result<llm::ChatResponse> r = router->Complete(creq, deadline, &info);
    if (!r.ok()) {
      if (fallback_allowed && IsDown(r.status())) {
        return extractive("the language model is unavailable (" + r.status().message() +
                          "); the answer is extractive");
      }
      *retry_after = info.retry_after_seconds;
      return r.status();
    }
    json message = {{"role", "assistant"}, {"content", r->content}};
    if (!r->reasoning_content.empty()) message["reasoning_content"] = r->reasoning_content;
    json out = {{"id", id},
                {"object", "chat.completion"},
                {"created", created},
                {"model", model},
                {"choices", json::array({{{"index", 0},
                                          {"message", std::move(message)},
                                          {"finish_reason", r->finish_reason.empty()
                                                                ? json("stop")
                                                                : json(r->finish_reason)}}})}};
    if (r->has_usage) {
      out["usage"] = {{"prompt_tokens", r->usage.prompt_tokens},
                      {"completion_tokens", r->usage.completion_tokens},
                      {"total_tokens", r->usage.total_tokens}};
    }
    if (!retrieval.collections.empty()) {
      out["citations"] = citations(r->content);
      out["knowledge"] = knowledge_json();
    }
    *started = true;
    return emit(out) ? Status::Ok() : Status(StatusCode::kAborted, "the client went away");
  }

  // Streaming: one chunk per upstream event, the citations after the last one.
  std::string answer;
  bool role_sent = false;
  json usage_chunk;
  const auto on_event = [&](const llm::ChatEvent& ev) -> bool {
    json chunk = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created},
                  {"model", model}};
    json delta = json::object();
    if (!role_sent) delta["role"] = "assistant";
    switch (ev.kind) {
      case llm::ChatEvent::Kind::kContent:
        answer += ev.text;
        delta["content"] = ev.text;
        break;
      case llm::ChatEvent::Kind::kReasoning:
        delta["reasoning_content"] = ev.text;
        break;
      case llm::ChatEvent::Kind::kFinish:
        chunk["choices"] = json::array(
            {{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", ev.finish_reason}}});
        role_sent = true;
        *started = true;
        return emit(chunk);
      case llm::ChatEvent::Kind::kUsage:
        // Held back: OpenAI's usage chunk is the last one before [DONE], after our citations.
        if (!include_usage) return true;
        chunk["choices"] = json::array();
        chunk["usage"] = {{"prompt_tokens", ev.usage.prompt_tokens},
                          {"completion_tokens", ev.usage.completion_tokens},
                          {"total_tokens", ev.usage.total_tokens}};
        usage_chunk = std::move(chunk);
        return true;
    }
    role_sent = true;
    chunk["choices"] = json::array({{{"index", 0}, {"delta", std::move(delta)}, {"finish_reason", nullptr}}});
    *started = true;
    return emit(chunk);
  };
  Status s = router->Stream(creq, deadline, on_event, &info);
  if (!s.ok()) {
    if (!info.delivered && !*started && fallback_allowed && IsDown(s)) {
      return extractive("the language model is unavailable (" + s.message() +
                        "); the answer is extractive");
    }
    *retry_after = info.retry_after_seconds;
    return s;
  }
  if (!retrieval.collections.empty()) {
    json tail = {{"id", id}, {"object", "chat.completion.chunk"}, {"created", created},
                 {"model", model}, {"choices", json::array()},
                 {"citations", citations(answer)}, {"knowledge", knowledge_json()}};
    *started = true;
    if (!emit(tail)) return Status(StatusCode::kAborted, "the client went away");
  }
  if (!usage_chunk.is_null()) {
    *started = true;
    if (!emit(usage_chunk)) return Status(StatusCode::kAborted, "the client went away");
  }
  return Status::Ok();
}

json Gateway::Models(const auth::Principal& who) const {
  json data = json::array();
  for (const std::string& m : impl_->model_order) {
    data.push_back({{"id", m}, {"object", "model"}, {"created", 0}, {"owned_by", "upstream"}});
  }
  for (const auto& [name, a] : impl_->aliases) {
    const bool visible = std::all_of(a.collections.begin(), a.collections.end(),
                                     [&](const std::string& c) {
                                       return auth::Authorize(who, auth::Permission::kRead, c).ok();
                                     });
    if (!visible) continue;
    data.push_back({{"id", name},
                    {"object", "model"},
                    {"created", 0},
                    {"owned_by", "deepkb"},
                    {"knowledge", {{"model", a.model}, {"collections", a.collections},
                                   {"top_k", a.top_k}, {"mode", a.mode}}}});
  }
  data.push_back({{"id", "extractive"}, {"object", "model"}, {"created", 0}, {"owned_by", "deepkb"}});
  return {{"object", "list"}, {"data", std::move(data)}};
}

Result<json> Gateway::Embeddings(const auth::Principal& who, const json& request) {
  if (!request.is_object()) return InvalidArgumentError("the request body must be a JSON object");
  RETURN_IF_ERROR(server::RejectUnknownFields(request, {"model", "input", "encoding_format",
                                                        "dimensions", "user"}));
  std::string model = "default";
  RETURN_IF_ERROR(server::ReadField(request, "model", model));
  std::string format = "float";
  RETURN_IF_ERROR(server::ReadField(request, "encoding_format", format));
  if (format != "float" && format != "base64") {
    return InvalidArgumentError("'encoding_format' must be float or base64");
  }
  std::vector<std::string> inputs;
  if (!request.contains("input")) return InvalidArgumentError("'input' is required");
  const json& in = request["input"];
  if (in.is_string()) {
    inputs.push_back(in.get<std::string>());
  } else if (in.is_array() && !in.empty() && in.size() <= kMaxEmbeddingInputs &&
             std::all_of(in.begin(), in.end(), [](const json& x) { return x.is_string(); })) {
    for (const json& x : in) inputs.push_back(x.get<std::string>());
  } else {
    return InvalidArgumentError("'input' must be a string or an array of 1 to " +
                                std::to_string(kMaxEmbeddingInputs) +
                                " strings (token arrays are not supported)");
  }
  for (const std::string& s : inputs) {
    if (s.empty()) return InvalidArgumentError("'input' must not contain empty strings");
    if (!utf8::IsValid(s)) return InvalidArgumentError("'input' must be valid UTF-8");
  }
  std::vector<std::vector<float>> vecs;
  if (model == "default" || model == impl_->default_embedder->spec()) {
    ASSIGN_OR_RETURN(vecs, impl_->default_embedder->Embed(inputs));
    model = impl_->default_embedder->spec();
  } else {
    if (!impl_->kb) return NotFoundError("this gateway has no local knowledge base");
    RETURN_IF_ERROR(auth::Authorize(who, auth::Permission::kRead, model));
    auto r = impl_->kb->EmbedTexts(model, inputs);
    if (!r.ok() && r.status().code() == StatusCode::kNotFound) {
      return NotFoundError("'model' must be 'default' or a collection name (its embedder is "
                           "used); collection '" + utf8::Sanitize(model.substr(0, 128)) +
                           "' does not exist");
    }
    RETURN_IF_ERROR(r.status());
    vecs = std::move(*r);
  }
  if (request.contains("dimensions") && !request["dimensions"].is_null()) {
    if (!request["dimensions"].is_number_integer() || vecs.empty() ||
        request["dimensions"].get<int64_t>() != static_cast<int64_t>(vecs[0].size())) {
      return InvalidArgumentError("'dimensions' must equal the embedder's dimension (" +
                                  std::to_string(vecs.empty() ? 0 : vecs[0].size()) + ")");
    }
  }
  json data = json::array();
  size_t tokens = 0;
  for (size_t i = 0; i < vecs.size(); ++i) {
    tokens += impl_->estimate->Count(inputs[i]);
    json e = {{"object", "embedding"}, {"index", i}};
    if (format == "base64") {
      e["embedding"] = Base64(vecs[i].data(), vecs[i].size() * sizeof(float));
    } else {
      e["embedding"] = vecs[i];
    }
    data.push_back(std::move(e));
  }
  return json{{"object", "list"},
              {"data", std::move(data)},
              {"model", model},
              {"usage", {{"prompt_tokens", tokens}, {"total_tokens", tokens}}}};
}

}  // namespace deepkb::gateway
