// `deepkb ask QUESTION --collection NAME [--model ALIAS] [--json]`: a RAG answer streamed to the
// terminal, with its sources listed after it.
//   - with --server URL (and --api-key / DEEPKB_API_KEY): POST /v1/chat/completions on that
//     server (SSE), retrieving from the named collections ("knowledge" field);
//   - without: directly on --data-dir (the directory lock held shared), with the gateway flags
//     (--upstream ...) given to this command; without an upstream the answer is extractive.
// --model defaults to the server's first upstream model, else "extractive".
// --json prints the whole chat.completion object (not streamed).
// Notes (e.g. "answered from the replica") and reasoning go to stderr; the answer to stdout.
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "auth/policy.h"
#include "cli/app.h"
#include "cli/gateway_flags.h"
#include "common/log.h"
#include "llm/sse.h"

namespace deepkb::cli {

namespace {

using json = nlohmann::json;

struct AskOptions {
  std::string question;
  std::vector<std::string> collections;
  std::string model;
  bool json_out = false;
  int top_k = 0;
  std::string mode;
  std::string server;
  std::string api_key;
  GatewayFlags gateway;
};

json BuildRequest(const AskOptions& o, const std::string& model) {
  json req = {{"model", model},
              {"messages", json::array({{{"role", "user"}, {"content", o.question}}})},
              {"stream", !o.json_out}};
  if (!o.collections.empty()) {
    json k = {{"collections", o.collections}};
    if (o.top_k > 0) k["top_k"] = o.top_k;
    if (!o.mode.empty()) k["mode"] = o.mode;
    req["knowledge"] = std::move(k);
  }
  return req;
}

// Prints one streamed object (a chat.completion.chunk) as it arrives.
class Printer {
 public:
  void Chunk(const json& c) {
    if (c.contains("choices") && c["choices"].is_array()) {
      for (const json& ch : c["choices"]) {
        if (!ch.is_object() || !ch.contains("delta") || !ch["delta"].is_object()) continue;
        const json& d = ch["delta"];
        if (d.contains("reasoning_content") && d["reasoning_content"].is_string()) {
          if (!thinking_) std::fputs("(thinking) ", stderr);
          thinking_ = true;
          std::fputs(d["reasoning_content"].get<std::string>().c_str(), stderr);
        }
        if (d.contains("content") && d["content"].is_string()) {
          if (thinking_) std::fputs("\n", stderr);
          thinking_ = false;
          const std::string t = d["content"].get<std::string>();
          std::fwrite(t.data(), 1, t.size(), stdout);
          wrote_ = !t.empty() || wrote_;
          ends_newline_ = !t.empty() ? t.back() == '\n' : ends_newline_;
        }
      }
      std::fflush(stdout);
    }
    if (c.contains("citations")) citations_ = c["citations"];
    if (c.contains("knowledge") && c["knowledge"].contains("notes")) notes_ = c["knowledge"]["notes"];
  }

  // The sources after the answer: the cited passages (all given ones when none was cited).
  void Finish() {
    if (wrote_ && !ends_newline_) std::fputs("\n", stdout);
    if (citations_.is_array() && !citations_.empty()) {
      bool any_cited = false;
      for (const json& c : citations_) any_cited = any_cited || c.value("cited", false);
      std::fputs("\nSources:\n", stdout);
      for (const json& c : citations_) {
        if (any_cited && !c.value("cited", false)) continue;
        std::string line = "[" + std::to_string(c.value("index", 0)) + "] ";
        line += c.contains("title") && c["title"].is_string() && !c["title"].get<std::string>().empty()
                    ? c["title"].get<std::string>()
                    : c.value("doc_id", std::string());
        if (c.contains("source") && c["source"].is_string() && !c["source"].get<std::string>().empty()) {
          line += " — " + c["source"].get<std::string>();
        }
        if (c.contains("page") && c["page"].is_number_integer() && c["page"].get<int>() > 0) {
          line += " p." + std::to_string(c["page"].get<int>());
        }
        line += "  (" + (c.contains("kb") && c["kb"].is_string() && !c["kb"].get<std::string>().empty()
                             ? c["kb"].get<std::string>() + "/"
                             : std::string()) +
                c.value("collection", std::string()) + ")";
        std::printf("%s\n", line.c_str());
      }
    }
    if (notes_.is_array()) {
      for (const json& n : notes_) {
        if (n.is_string()) std::fprintf(stderr, "note: %s\n", n.get<std::string>().c_str());
      }
    }
    std::fflush(stdout);
  }

 private:
  bool thinking_ = false, wrote_ = false, ends_newline_ = true;
  json citations_, notes_;
};

Result<std::string> ServerUrl(const std::string& server) {
  std::string url = server;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos || url.find('/', scheme + 3) != std::string::npos) {
    return InvalidArgumentError("--server must be a URL like http://127.0.0.1:8080 (no path)");
  }
  return url;
}

Status AskServer(const AskOptions& o) {
  ASSIGN_OR_RETURN(std::string url, ServerUrl(o.server));
  std::string key = o.api_key;
  if (key.empty()) {
    const char* env = std::getenv("DEEPKB_API_KEY");
    key = env ? env : "";
  }
  if (key.empty()) return InvalidArgumentError("--server needs --api-key KEY or DEEPKB_API_KEY");
  httplib::Client c(url);
  if (!c.is_valid()) return InvalidArgumentError("cannot use server URL '" + url + "'");
  c.set_bearer_token_auth(key.c_str());
  c.set_connection_timeout(10, 0);
  c.set_read_timeout(600, 0);
  const auto unreachable = [&](httplib::Error e) {
    return UnavailableError("cannot reach " + url + ": " + httplib::to_string(e) +
                            " (is `deepkb serve` running there?)");
  };

  std::string model = o.model;
  if (model.empty()) {  // the server's first upstream model, else extractive
    auto res = c.Get("/v1/models");
    if (!res) return unreachable(res.error());
    if (res->status != 200) return StatusFromHttpResponse(res->status, res->body);
    const json j = json::parse(res->body, nullptr, false);
    model = "extractive";
    if (j.is_object() && j.contains("data") && j["data"].is_array()) {
      for (const json& m : j["data"]) {
        if (m.is_object() && m.value("owned_by", "") == "upstream" && m.contains("id")) {
          model = m["id"].get<std::string>();
          break;
        }
      }
    }
  }
  const json body = BuildRequest(o, model);
  if (o.json_out) {
    auto res = c.Post("/v1/chat/completions", body.dump(), "application/json");
    if (!res) return unreachable(res.error());
    if (res->status != 200) return StatusFromHttpResponse(res->status, res->body);
    const json j = json::parse(res->body, nullptr, false);
    if (j.is_discarded()) return InternalError("the server's answer is not JSON");
    std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return Status::Ok();
  }

  Printer printer;
  int status = 0;
  std::string error_body;
  Status stream_error;
  bool done = false;
  llm::SseParser parser([&](std::string_view data) {
    if (data == "[DONE]") {
      done = true;
      return true;
    }
    const json j = json::parse(data, nullptr, false);
    if (!j.is_object()) {
      stream_error = InternalError("the server sent a malformed stream chunk");
      return false;
    }
    if (j.contains("error")) {
      stream_error = StatusFromHttpResponse(500, std::string(data));
      return false;
    }
    printer.Chunk(j);
    return true;
  });
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  req.set_header("Accept", "text/event-stream");
  req.response_handler = [&](const httplib::Response& r) {
    status = r.status;
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (status != 200) {
      error_body.append(data, n);
      return error_body.size() < (1u << 20);
    }
    return parser.Feed(std::string_view(data, n));
  };
  auto res = c.send(req);
  if (status != 0 && status != 200) return StatusFromHttpResponse(status, error_body);
  if (!stream_error.ok()) {
    printer.Finish();
    return stream_error;
  }
  if (!res) return unreachable(res.error());
  printer.Finish();
  if (!done) return UnavailableError("the answer stream ended before it was complete");
  return Status::Ok();
}

Status AskLocal(const GlobalOptions& g, const AskOptions& o) {
  ASSIGN_OR_RETURN(gateway::GatewayConfig config, GatewayConfigFrom(o.gateway));
  ASSIGN_OR_RETURN(OpenKb db, OpenDataDir(g));
  ASSIGN_OR_RETURN(auto gw, gateway::Gateway::Create(std::move(config), db.kb.get(), nullptr));
  std::string model = o.model;
  if (model.empty()) {
    model = "extractive";
    const json models = gw->Models(auth::Principal{"cli", auth::Role::kAdmin, {}});
    for (const json& m : models["data"]) {
      if (m.value("owned_by", "") == "upstream") {
        model = m["id"].get<std::string>();
        break;
      }
    }
  }
  const json request = BuildRequest(o, model);
  Printer printer;
  json whole;
  bool started = false;
  Status s = gw->Chat(
      auth::Principal{"cli", auth::Role::kAdmin, {}}, request,
      [&](const json& obj) {
        if (o.json_out) {
          whole = obj;
        } else {
          printer.Chunk(obj);
        }
        return true;
      },
      &started);
  if (o.json_out) {
    if (s.ok()) std::cout << whole.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
    return s;
  }
  if (started) printer.Finish();
  return s;
}

}  // namespace

void RegisterAskCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto o = std::make_shared<AskOptions>();
  auto* ask = app.add_subcommand(
      "ask",
      "answer a question from the knowledge base with the LLM gateway, streamed to the terminal "
      "with its sources (--server: ask a running server; else work on --data-dir with the "
      "--upstream flags given here; no upstream = extractive answer)");
  ask->add_option("question", o->question, "the question")->required();
  ask->add_option("--collection,-c", o->collections,
                  "collection to retrieve from (repeatable; KB/NAME for a remote KB)");
  ask->add_option("--model,-m", o->model,
                  "upstream model or knowledge alias (default: the first upstream model, else "
                  "'extractive')");
  ask->add_option("--top-k", o->top_k, "passages to retrieve per collection")->check(CLI::Range(1, 50));
  ask->add_option("--mode", o->mode, "retrieval mode")
      ->check(CLI::IsMember({"auto", "hybrid", "keyword", "vector"}));
  ask->add_flag("--json", o->json_out, "print the whole chat.completion JSON (not streamed)");
  ask->add_option("--server", o->server, "ask a running server at this URL (http(s)://host:port)");
  ask->add_option("--api-key", o->api_key, "API key for --server (default: env DEEPKB_API_KEY)");
  AddGatewayFlags(ask, o->gateway);
  ask->callback([&g, exit_code, o] {
    if (Status s = InitLogging(g.log_format, g.log_level); !s.ok()) { *exit_code = Fail(s); return; }
    if (o->collections.empty() && o->model.empty()) {
      *exit_code = Fail(InvalidArgumentError(
          "name a collection to answer from (--collection NAME) or a knowledge alias (--model)"));
      return;
    }
    if (!o->server.empty() && (!o->gateway.upstreams.empty() || !o->gateway.aliases.empty() ||
                               !o->gateway.remote_kbs.empty())) {
      *exit_code = Fail(InvalidArgumentError(
          "--upstream, --knowledge-alias and --remote-kb configure local mode; with --server the "
          "server's own configuration is used"));
      return;
    }
    Status s = o->server.empty() ? AskLocal(g, *o) : AskServer(*o);
    if (!s.ok()) *exit_code = Fail(s);
  });
}

}  // namespace deepkb::cli
