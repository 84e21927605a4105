// `deepkb keys create|list|revoke`: API key management (docs/access-control.md).
//
// Two ways to reach the keys:
//   - directly on --data-dir (the directory lock held shared; refused with a message pointing
//     to --server while a server holds it), recorded in the audit log as key id "cli", client
//     "local";
//   - over HTTP with --server URL --api-key KEY (env DEEPKB_API_KEY): GET/POST/DELETE /v1/keys
//     on the running server, which needs an admin key.
// Output: text for people; with --json exactly the HTTP API's bodies (`keys create --json` prints
// {"id", "key", "role", "collections", "expires"}).
//
// Other `keys` subcommands (e.g. `rotate-master`) are added as siblings: RegisterKeysCommands
// reuses a `keys` subcommand that already exists and KeysCommand() finds it.
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

#include "auth/api_keys.h"
#include "auth/key_json.h"
#include "cli/app.h"
#include "common/log.h"
#include "common/utf8.h"

namespace deepkb::cli {

// The Status a server's error body describes ({"error": {"code", "message"}}).
Status StatusFromHttpResponse(int http_status, const std::string& body) {
  using json = nlohmann::json;
  auto j = json::parse(body, nullptr, false);
  std::string code_name, message;
  if (j.is_object() && j.contains("error") && j["error"].is_object()) {
    const json& e = j["error"];
    if (e.contains("code") && e["code"].is_string()) code_name = e["code"].get<std::string>();
    if (e.contains("message") && e["message"].is_string()) message = e["message"].get<std::string>();
  }
  if (message.empty()) message = "server answered HTTP " + std::to_string(http_status);
  for (int c = static_cast<int>(StatusCode::kInvalidArgument);
       c <= static_cast<int>(StatusCode::kInsufficientStorage); ++c) {
    if (StatusCodeName(static_cast<StatusCode>(c)) == code_name) {
      return Status(static_cast<StatusCode>(c), message);
    }
  }
  if (http_status == 401) return UnauthenticatedError(message);
  if (http_status == 403) return PermissionDeniedError(message);
  if (http_status == 404) return NotFoundError(message);
  if (http_status == 503) return UnavailableError(message);
  return InternalError(message);
}

namespace {

using nlohmann::json;

void PrintJson(const json& j) {
  std::cout << j.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
}

struct Remote {
  CLI::Option* server = nullptr;
  CLI::Option* api_key = nullptr;

  std::string Server() const { return server && server->count() ? server->as<std::string>() : ""; }
  std::string ApiKey() const {
    if (api_key && api_key->count()) return api_key->as<std::string>();
    const char* env = std::getenv("DEEPKB_API_KEY");
    return env ? env : "";
  }
};

// Sends one request to the server; the parsed JSON body of a 2xx answer, else its error.
Result<json> Call(const Remote& r, const std::string& method, const std::string& path,
                  const json* body) {
  std::string url = r.Server();
  while (!url.empty() && url.back() == '/') url.pop_back();
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos || url.find('/', scheme + 3) != std::string::npos) {
    return InvalidArgumentError("--server must be a URL like http://127.0.0.1:8080 (no path)");
  }
  const std::string key = r.ApiKey();
  if (key.empty()) {
    return InvalidArgumentError(
        "--server needs an admin API key: pass --api-key KEY or set DEEPKB_API_KEY");
  }
  httplib::Client c(url);
  if (!c.is_valid()) return InvalidArgumentError("cannot use server URL '" + url + "'");
  c.set_bearer_token_auth(key.c_str());
  c.set_connection_timeout(10, 0);
  c.set_read_timeout(60, 0);
  httplib::Result res = method == "GET"    ? c.Get(path.c_str())
                        : method == "POST" ? c.Post(path.c_str(), body ? body->dump() : "{}",
                                                    "application/json")
                                           : c.Delete(path.c_str());
  if (!res) {
    return UnavailableError("cannot reach " + url + ": " + httplib::to_string(res.error()) +
                            " (is `deepkb serve` running there?)");
  }
  if (res->status < 200 || res->status >= 300) return StatusFromHttpResponse(res->status, res->body);
  auto j = json::parse(res->body, nullptr, false);
  if (j.is_discarded()) return InternalError("server answered with a body that is not JSON");
  return j;
}

struct Local {
  OpenKb db;
  std::unique_ptr<auth::ApiKeys> keys;
};

Result<Local> OpenLocal(const GlobalOptions& g) {
  Local l;
  ASSIGN_OR_RETURN(l.db, OpenDataDir(g));
  ASSIGN_OR_RETURN(l.keys, auth::ApiKeys::Open(g.data_dir + "/kb.db"));
  return l;
}

auth::AuditEvent CliEvent(std::string action, std::string resource, std::string result) {
  auth::AuditEvent e;
  e.key_id = "cli";
  e.client = "local";
  e.action = std::move(action);
  e.resource = std::move(resource);
  e.result = std::move(result);
  return e;
}

std::string Scope(const json& cols) {
  if (!cols.is_array() || cols.empty()) return "all collections";
  std::string s;
  for (const auto& c : cols) s += (s.empty() ? "" : ",") + c.get<std::string>();
  return s;
}

std::string OrNever(const json& v) { return v.is_string() ? v.get<std::string>() : "never"; }

struct CreateArgs {
  std::string role;
  std::vector<std::string> collections;
  std::string expires;
  bool json = false;
};

Result<json> CreateKey(const GlobalOptions& g, const Remote& r, const CreateArgs& a) {
  for (const auto& c : a.collections) RETURN_IF_ERROR(kb::ValidateCollectionName(c));
  int64_t ttl = 0;
  if (!a.expires.empty()) {
    ASSIGN_OR_RETURN(ttl, auth::ParseDuration(a.expires));
  }
  if (!r.Server().empty()) {
    json body{{"role", a.role}, {"collections", a.collections}};
    if (!a.expires.empty()) body["expires"] = a.expires;
    return Call(r, "POST", "/v1/keys", &body);
  }
  ASSIGN_OR_RETURN(Local l, OpenLocal(g));
  ASSIGN_OR_RETURN(auth::NewKey k,
                   l.keys->CreateKey(a.role, a.collections, ttl ? auth::NowUnixMillis() + ttl : 0));
  auth::AuditEvent e = CliEvent("key.create", k.info.id, "ok");
  e.detail = "role=" + a.role + " collections=" + json(a.collections).dump();
  l.keys->audit().Record(std::move(e));
  return auth::NewKeyToJson(k);
}

Result<json> ListKeys(const GlobalOptions& g, const Remote& r) {
  if (!r.Server().empty()) return Call(r, "GET", "/v1/keys", nullptr);
  ASSIGN_OR_RETURN(Local l, OpenLocal(g));
  ASSIGN_OR_RETURN(auto list, l.keys->List());
  const int64_t now = auth::NowUnixMillis();
  json arr = json::array();
  for (const auto& k : list) arr.push_back(auth::KeyToJson(k, now));
  return json{{"keys", arr}};
}

Result<json> RevokeKey(const GlobalOptions& g, const Remote& r, const std::string& id) {
  if (!auth::IsKeyId(id)) {
    return InvalidArgumentError("invalid key id '" + utf8::Sanitize(id.substr(0, 64)) +
                                "': a key id is 16 hex characters (see `deepkb keys list`)");
  }
  if (!r.Server().empty()) return Call(r, "DELETE", "/v1/keys/" + id, nullptr);
  ASSIGN_OR_RETURN(Local l, OpenLocal(g));
  auto rv = l.keys->Revoke(id);
  if (rv.status().code() != StatusCode::kNotFound) {
    auth::AuditEvent e = CliEvent("key.revoke", id, rv.ok() ? "ok" : "error");
    e.detail = rv.status().message();
    l.keys->audit().Record(std::move(e));
  }
  RETURN_IF_ERROR(rv.status());
  return json{{"id", id}, {"revoked", true}};
}

}  // namespace

CLI::App* KeysCommand(CLI::App& app) {
  auto found = app.get_subcommands([](CLI::App* s) { return s->get_name() == "keys"; });
  return found.empty() ? nullptr : found.front();
}

CLI::App* RegisterKeysCommands(CLI::App& app, GlobalOptions& g, int* exit_code) {
  CLI::App* keys = KeysCommand(app);
  if (keys == nullptr) {
    keys = app.add_subcommand(
        "keys",
        "manage API keys (roles admin|writer|reader|guest, optional collection scope and expiry); "
        "works on --data-dir, or on a running server with --server URL --api-key KEY");
    keys->require_subcommand(1);
  }
  auto remote = std::make_shared<Remote>();
  remote->server = keys->get_option_no_throw("--server");
  if (remote->server == nullptr) {
    remote->server = keys->add_option(
        "--server", "talk to this running server (e.g. http://127.0.0.1:8080) instead of "
                    "opening --data-dir")
        ->type_name("URL");
  }
  remote->api_key = keys->get_option_no_throw("--api-key");
  if (remote->api_key == nullptr) {
    remote->api_key =
        keys->add_option("--api-key", "admin API key for --server (env DEEPKB_API_KEY)")
            ->type_name("KEY");
  }
  const auto finish = [exit_code](const Result<json>& r, const std::function<void(const json&)>& text,
                                  bool as_json) {
    if (!r.ok()) {
      *exit_code = Fail(r.status());
      return;
    }
    if (as_json) PrintJson(*r);
    else text(*r);
  };

  {
    auto* create = keys->add_subcommand(
        "create", "create a key and print it (shown once: only its HMAC is stored)");
    auto a = std::make_shared<CreateArgs>();
    create->add_option("--role", a->role, "admin | writer | reader | guest")
        ->required()
        ->check(CLI::IsMember({"admin", "writer", "reader", "guest"}));
    create->add_option("--collection", a->collections,
                       "limit the key to this collection (repeatable; default: all collections; "
                       "not for admin keys)");
    create->add_option("--expires", a->expires,
                       "expire after DURATION: NUMBER+UNIT, units s m h d w, e.g. 90d, 12h, 30m, "
                       "1d12h (default: never)");
    create->add_flag("--json", a->json, "print {\"id\", \"key\", \"role\", \"collections\", \"expires\"}");
    create->callback([&g, remote, a, finish] {
      if (Status s = InitLogging(g.log_format, g.log_level); !s.ok()) return finish(s, {}, false);
      finish(CreateKey(g, *remote, *a),
             [](const json& k) {
               std::printf("created %s key %s (scope: %s; expires: %s)\n",
                           k.value("role", "").c_str(), k.value("id", "").c_str(),
                           Scope(k["collections"]).c_str(), OrNever(k["expires"]).c_str());
               std::printf("%s\n", k.value("key", "").c_str());
               std::printf("store it now: the key is shown only once\n");
             },
             a->json);
    });
  }
  {
    auto* list = keys->add_subcommand("list", "list keys (ids, roles, scopes, expiry; never the keys)");
    auto as_json = std::make_shared<bool>(false);
    list->add_flag("--json", *as_json, "machine-readable output: {\"keys\": [...]}");
    list->callback([&g, remote, as_json, finish] {
      if (Status s = InitLogging(g.log_format, g.log_level); !s.ok()) return finish(s, {}, false);
      finish(ListKeys(g, *remote),
             [](const json& j) {
               std::printf("%-16s  %-6s  %-8s  %-20s  %-20s  %s\n", "ID", "ROLE", "STATUS",
                           "CREATED", "EXPIRES", "COLLECTIONS");
               for (const auto& k : j["keys"]) {
                 const char* st = k.value("revoked", false) ? "revoked"
                                  : k.value("active", false) ? "active"
                                                             : "expired";
                 std::printf("%-16s  %-6s  %-8s  %-20s  %-20s  %s\n", k.value("id", "").c_str(),
                             k.value("role", "").c_str(), st, k.value("created", "").c_str(),
                             OrNever(k["expires"]).c_str(), Scope(k["collections"]).c_str());
               }
             },
             *as_json);
    });
  }
  {
    auto* revoke = keys->add_subcommand(
        "revoke", "revoke a key by id (permanent; the last active admin key cannot be revoked)");
    auto id = std::make_shared<std::string>();
    auto as_json = std::make_shared<bool>(false);
    revoke->add_option("KEY_ID", *id, "the key's id (16 hex characters, see `deepkb keys list`)")
        ->required();
    revoke->add_flag("--json", *as_json, "machine-readable output");
    revoke->callback([&g, remote, id, as_json, finish] {
      if (Status s = InitLogging(g.log_format, g.log_level); !s.ok()) return finish(s, {}, false);
      finish(RevokeKey(g, *remote, *id),
             [](const json& j) { std::printf("revoked key %s\n", j.value("id", "").c_str()); },
             *as_json);
    });
  }
  return keys;
}

}  // namespace deepkb::cli
