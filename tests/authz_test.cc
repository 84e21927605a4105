// Access control over real loopback HTTP: every registered route × role × scope × key state,
// checked against an EXPECTED table written here independently of the routes' declarations.
// A route the server registers but this table lacks fails the test, so no new route can skip
// the matrix.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <map>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "gateway/gateway.h"
#include "in_process_server.h"
#include "server/routes.h"

namespace deepkb {
namespace {

using auth::Permission;
using nlohmann::json;

struct Expected {
  Permission need;
  bool about_collection;  // the request names one collection (path or body) → scope applies
};

// THE table. Key: "METHOD route-name". Written from CONTRACT.md's role definitions, not copied
// from the route declarations.
const std::map<std::string, Expected>& ExpectedTable() {
  static const std::map<std::string, Expected> t = {
      {"GET /healthz", {Permission::kPublic, false}},
      {"GET /readyz", {Permission::kPublic, false}},
      {"GET /v1/collections", {Permission::kRead, false}},
      {"POST /v1/collections", {Permission::kWrite, true}},  // name in the body
      {"GET /v1/collections/{c}", {Permission::kRead, true}},
      {"DELETE /v1/collections/{c}", {Permission::kWrite, true}},
      {"POST /v1/collections/{c}/search", {Permission::kRead, true}},
      {"GET /v1/collections/{c}/documents", {Permission::kRead, true}},
      {"POST /v1/collections/{c}/documents", {Permission::kWrite, true}},  // multipart upload
      {"GET /v1/collections/{c}/documents/{id}", {Permission::kRead, true}},
      {"PUT /v1/collections/{c}/documents/{id}", {Permission::kWrite, true}},
      {"DELETE /v1/collections/{c}/documents/{id}", {Permission::kWrite, true}},
      {"GET /v1/keys", {Permission::kAdmin, false}},
      {"POST /v1/keys", {Permission::kAdmin, false}},
      {"DELETE /v1/keys/{id}", {Permission::kAdmin, false}},
      {"GET /v1/audit", {Permission::kAdmin, false}},
      // The gateway: chat and embeddings name their collections in the body.
      {"GET /v1/models", {Permission::kRead, false}},
      {"GET /v1/models/{id}", {Permission::kRead, false}},
      {"POST /v1/chat/completions", {Permission::kRead, true}},
      {"POST /v1/embeddings", {Permission::kRead, true}},
      // Metrics carry collection names in labels, so they are not for scoped keys.
      {"GET /metrics", {Permission::kAdmin, false}},
      // The web UI's static files (no data in them) and the UI's who-am-I route.
      {"GET /", {Permission::kPublic, false}},
      {"GET /ui/{file}", {Permission::kPublic, false}},
      {"GET /v1/whoami", {Permission::kRead, false}},
      // Sync between nodes: a writer key (scoped keys: their collections' changes only);
      // conflicts and on-demand runs are for admins.
      {"GET /v1/sync/info", {Permission::kWrite, false}},
      {"GET /v1/sync/changes", {Permission::kWrite, false}},
      {"POST /v1/sync/apply", {Permission::kWrite, false}},
      {"GET /v1/sync/checkpoints/{id}", {Permission::kWrite, false}},
      {"PUT /v1/sync/checkpoints/{id}", {Permission::kWrite, false}},
      {"GET /v1/sync/conflicts", {Permission::kAdmin, false}},
      {"POST /v1/sync/run", {Permission::kAdmin, false}},
      {"GET /v1/sync/status", {Permission::kAdmin, false}},  // scheduled peers (deepkb serve)
      // Node operations.
      {"POST /v1/admin/backup", {Permission::kAdmin, false}},
      {"GET /v1/admin/doctor", {Permission::kAdmin, false}},
      {"GET /v1/admin/index/verify", {Permission::kAdmin, false}},
      {"POST /v1/admin/index/rebuild", {Permission::kAdmin, false}},
  };
  return t;
}

// What CONTRACT.md says: admin everything; writer read+write in its collections; reader read in
// its collections; guest nothing.
bool Allowed(const std::string& role, bool scoped_to_a, const std::string& target,
             const Expected& e) {
  if (e.need == Permission::kPublic) return true;
  if (role == "admin") return true;
  bool role_ok = false;
  if (role == "writer") role_ok = e.need == Permission::kRead || e.need == Permission::kWrite;
  if (role == "reader") role_ok = e.need == Permission::kRead;
  if (!role_ok) return false;
  if (e.about_collection && scoped_to_a && target != "a") return false;
  return true;
}

class AuthzTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // With the gateway's routes (no upstream: chat answers are extractive).
    srv_ = std::make_unique<testing::InProcessServer>(
        [](kb::KnowledgeBase& kb, auth::ApiKeys& keys, std::shared_ptr<void>* keep) {
          auto gw = gateway::Gateway::Create({}, &kb, nullptr);
          EXPECT_TRUE(gw.ok()) << gw.status().ToString();
          if (!gw.ok()) return std::vector<server::Route>{};
          auto routes = (*gw)->Routes(&keys.audit());
          for (auto& r : server::SyncStatusRoutes(nullptr)) routes.push_back(std::move(r));
          *keep = std::shared_ptr<gateway::Gateway>(std::move(*gw));
          return routes;
        });
    for (const char* role : {"admin", "writer", "reader", "guest"}) {
      keys_[role] = Make(role, {}, 0);
      if (std::string(role) != "admin") scoped_[role] = Make(role, {"a"}, 0);
      else scoped_[role] = keys_[role];  // admin keys cannot be scoped (checked below)
      revoked_[role] = Make(role, {}, 0);
      expired_[role] = Make(role, {}, 1);  // expired in 1970
    }
    for (const char* role : {"admin", "writer", "reader", "guest"}) {
      const std::string id = revoked_[role].substr(4, 16);
      ASSERT_TRUE(srv_->keys().Revoke(id).ok()) << role;
    }
    EnsureFixtures();
  }

  std::string Make(const std::string& role, std::vector<std::string> cols, int64_t expires) {
    auto k = srv_->keys().Create(role, cols, expires);
    EXPECT_TRUE(k.ok()) << k.status().ToString();
    return k.ok() ? *k : "";
  }

  // Collections a and b, each with document doc1 (restored before every request, so deletes
  // by allowed keys do not change what later requests see).
  void EnsureFixtures() {
    for (const char* c : {"a", "b"}) {
      if (!srv_->kb().GetCollection(c).ok()) {
        ASSERT_TRUE(srv_->kb().CreateCollection({.name = c}).ok());
      }
      kb::PutDocumentRequest p;
      p.collection = c;
      p.doc_id = "doc1";
      p.bytes = std::string("hello world from collection ") + c;
      p.format = text::Format::kText;
      ASSERT_TRUE(srv_->kb().PutDocument(p).ok());
    }
  }

  // A plausible request for `route` aimed at collection `target`; returns the HTTP response.
  httplib::Result Send(const server::Route& route, const std::string& target,
                       const std::string& key) {
    std::string path = route.name;
    std::string id_value = "doc1";
    if (route.name == "/v1/keys/{id}") {  // a throwaway key, so an allowed revoke succeeds
      auto k = srv_->keys().CreateKey("reader", {}, 0);
      id_value = k.ok() ? k->info.id : "0000000000000000";
    }
    static const std::regex placeholder(R"(\{([a-z_]+)\})");
    std::smatch m;
    while (std::regex_search(path, m, placeholder)) {
      const std::string p = m[1];
      std::string v;
      if (p == "c" || p == "name" || p == "collection") v = target;
      else if (p == "id") v = id_value;
      else if (p == "file") v = "index.html";
      else ADD_FAILURE() << "no test value for placeholder {" << p << "} in " << route.name;
      path = m.prefix().str() + v + m.suffix().str();
    }
    auto c = srv_->Client(key);
    const std::string sig = route.method + " " + route.name;
    if (route.method == "GET") return c.Get(path.c_str());
    if (route.method == "DELETE") return c.Delete(path.c_str());
    if (sig == "POST /v1/collections/{c}/documents") {
      httplib::MultipartFormDataItems items = {
          {"file", "uploaded text for the matrix", "m.txt", "text/plain"}};
      return c.Post(path.c_str(), items);
    }
    json body = json::object();
    if (sig == "POST /v1/collections") body = {{"name", target}};
    else if (sig == "POST /v1/collections/{c}/search") body = {{"query", "hello"}, {"top_k", 3}};
    else if (sig == "PUT /v1/collections/{c}/documents/{id}") body = {{"text", "hello again"}};
    else if (sig == "POST /v1/keys") body = {{"role", "reader"}};
    else if (sig == "POST /v1/sync/apply") body = {{"changes", json::array()}};
    else if (sig == "PUT /v1/sync/checkpoints/{id}") body = {{"last_seq", 1}};
    else if (sig == "POST /v1/chat/completions") {
      body = {{"model", "extractive"},
              {"knowledge", {{"collections", {target}}}},
              {"messages", json::array({{{"role", "user"}, {"content", "hello"}}})}};
    } else if (sig == "POST /v1/embeddings") {
      body = {{"model", target}, {"input", "hello"}};
    }
    if (route.method == "POST") return c.Post(path.c_str(), body.dump(), "application/json");
    if (route.method == "PUT") return c.Put(path.c_str(), body.dump(), "application/json");
    ADD_FAILURE() << "no way to send " << sig;
    return c.Get(path.c_str());
  }

  static std::string Message(const httplib::Result& r) {
    auto j = json::parse(r->body, nullptr, false);
    return j.is_object() && j.contains("error") ? j["error"].value("message", "") : "";
  }

  std::unique_ptr<testing::InProcessServer> srv_;
  std::map<std::string, std::string> keys_, scoped_, revoked_, expired_;
};

TEST_F(AuthzTest, EveryRegisteredRouteIsInTheExpectedTableWithThatPermission) {
  const auto& table = ExpectedTable();
  ASSERT_FALSE(srv_->server().routes().empty());
  for (const auto& r : srv_->server().routes()) {
    const std::string sig = r.method + " " + r.name;
    auto it = table.find(sig);
    ASSERT_NE(it, table.end()) << "route " << sig
                               << " is registered but missing from the access-control matrix "
                                  "(tests/authz_test.cc ExpectedTable); add it with the "
                                  "permission it must need";
    EXPECT_EQ(r.permission, it->second.need) << sig << " declares "
                                             << auth::PermissionName(r.permission);
  }
}

TEST_F(AuthzTest, RouteRoleScopeKeyStateMatrixOverHttp) {
  const auto& table = ExpectedTable();
  int checked = 0;
  std::string unauth_message;
  for (const auto& route : srv_->server().routes()) {
    const std::string sig = route.method + " " + route.name;
    auto it = table.find(sig);
    if (it == table.end()) continue;  // reported by the test above
    const Expected& e = it->second;

    // Keys that authenticate nobody: no key, garbage, well-formed unknown, revoked, expired.
    std::vector<std::pair<std::string, std::string>> bad = {
        {"no key", ""},
        {"bad key", "dkb_0123456789abcdef_" + std::string(64, '0')},
        {"garbage", "not-a-key"}};
    for (const auto& [role, k] : revoked_) bad.emplace_back("revoked " + role, k);
    for (const auto& [role, k] : expired_) bad.emplace_back("expired " + role, k);
    for (const auto& [what, key] : bad) {
      EnsureFixtures();
      auto r = Send(route, "a", key);
      ASSERT_TRUE(r) << sig << " " << what;
      ++checked;
      if (e.need == Permission::kPublic) {
        EXPECT_NE(r->status, 401) << sig << " " << what;
        EXPECT_NE(r->status, 403) << sig << " " << what;
        continue;
      }
      EXPECT_EQ(r->status, 401) << sig << " " << what << ": " << r->body;
      EXPECT_TRUE(testing::IsErrorShape(r->body)) << r->body;
      if (what != "no key") {
        // Unknown, garbage, revoked and expired keys are indistinguishable.
        if (unauth_message.empty()) unauth_message = Message(r);
        EXPECT_EQ(Message(r), unauth_message) << sig << " " << what;
      }
    }

    // Valid keys: role × {unscoped, scoped-in, scoped-out}.
    for (const char* role : {"admin", "writer", "reader", "guest"}) {
      struct Variant {
        const char* name;
        bool scoped;
        const char* target;
      };
      for (const Variant& v : {Variant{"unscoped", false, "a"}, Variant{"unscoped", false, "b"},
                               Variant{"scoped-in", true, "a"}, Variant{"scoped-out", true, "b"}}) {
        EnsureFixtures();
        const std::string& key = v.scoped ? scoped_[role] : keys_[role];
        const bool scoped = v.scoped && std::string(role) != "admin";
        auto r = Send(route, v.target, key);
        ASSERT_TRUE(r) << sig << " " << role << " " << v.name;
        ++checked;
        const bool allow = Allowed(role, scoped, v.target, e);
        const std::string where = sig + " as " + role + " " + v.name + " → " + v.target + ": " +
                                  std::to_string(r->status) + " " + r->body.substr(0, 300);
        if (allow) {
          EXPECT_NE(r->status, 401) << where;
          EXPECT_NE(r->status, 403) << where;
          EXPECT_LT(r->status, 500) << where;
        } else {
          EXPECT_EQ(r->status, 403) << where;
          EXPECT_TRUE(testing::IsErrorShape(r->body)) << where;
        }
      }
    }
  }
  EXPECT_GT(checked, 300);
}

TEST_F(AuthzTest, AdminKeysCannotBeScoped) {
  auto k = srv_->keys().CreateKey("admin", {"a"}, 0);
  EXPECT_EQ(k.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(AuthzTest, ScopedKeySeesOnlyItsCollections) {
  auto r = srv_->Client(scoped_["reader"]).Get("/v1/collections");
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  auto j = json::parse(r->body);
  ASSERT_EQ(j["collections"].size(), 1u);
  EXPECT_EQ(j["collections"][0]["name"], "a");
  auto all = json::parse(srv_->Client(keys_["reader"]).Get("/v1/collections")->body);
  EXPECT_EQ(all["collections"].size(), 2u);
}

TEST_F(AuthzTest, SearchNeverReturnsChunksOutsideTheScope) {
  auto c = srv_->Client(scoped_["reader"]);
  auto in = c.Post("/v1/collections/a/search", R"({"query":"hello","mode":"keyword"})",
                   "application/json");
  ASSERT_TRUE(in);
  ASSERT_EQ(in->status, 200) << in->body;
  auto hits = json::parse(in->body)["hits"];
  ASSERT_FALSE(hits.empty());
  for (const auto& h : hits) {
    EXPECT_NE(h["text"].get<std::string>().find("collection a"), std::string::npos);
  }
  auto out = c.Post("/v1/collections/b/search", R"({"query":"hello"})", "application/json");
  EXPECT_EQ(out->status, 403);
  EXPECT_EQ(out->body.find("collection b\""), std::string::npos);  // no b text leaks
  // A scoped writer may not create a collection outside its scope either (name in the body).
  auto create = srv_->Client(scoped_["writer"]).Post("/v1/collections", R"({"name":"c"})",
                                                     "application/json");
  EXPECT_EQ(create->status, 403);
  EXPECT_FALSE(srv_->kb().GetCollection("c").ok());
}

TEST_F(AuthzTest, KeysApiCreateListRevoke) {
  auto admin = srv_->Client(keys_["admin"]);
  auto created = admin.Post("/v1/keys", R"({"role":"writer","collections":["a"],"expires":"90d"})",
                            "application/json");
  ASSERT_TRUE(created);
  ASSERT_EQ(created->status, 201) << created->body;
  auto k = json::parse(created->body);
  std::vector<std::string> fields;
  for (const auto& [name, v] : k.items()) fields.push_back(name);
  EXPECT_EQ(fields, (std::vector<std::string>{"collections", "expires", "id", "key", "role"}));
  EXPECT_EQ(k["role"], "writer");
  EXPECT_EQ(k["collections"], json::array({"a"}));
  EXPECT_TRUE(k["expires"].is_string());
  const std::string key = k["key"];
  const std::string id = k["id"];

  // The new key works, within its scope.
  EXPECT_EQ(srv_->Client(key).Get("/v1/collections/a")->status, 200);
  EXPECT_EQ(srv_->Client(key).Get("/v1/collections/b")->status, 403);

  // Listing shows it but never a key or MAC.
  auto list = admin.Get("/v1/keys");
  ASSERT_EQ(list->status, 200);
  EXPECT_EQ(list->body.find(key.substr(21)), std::string::npos);
  EXPECT_EQ(list->body.find("\"key\""), std::string::npos);
  EXPECT_EQ(list->body.find("mac"), std::string::npos);
  bool found = false;
  const json listed = json::parse(list->body);  // (a named value: no dangling range)
  for (const auto& e : listed["keys"]) {
    if (e["id"] == id) {
      found = true;
      EXPECT_EQ(e["active"], true);
      EXPECT_EQ(e["revoked"], false);
    }
  }
  EXPECT_TRUE(found);

  auto del = admin.Delete(("/v1/keys/" + id).c_str());
  EXPECT_EQ(del->status, 200) << del->body;
  EXPECT_EQ(srv_->Client(key).Get("/v1/collections/a")->status, 401);
  EXPECT_EQ(admin.Delete("/v1/keys/0123456789abcdef")->status, 404);
  EXPECT_EQ(admin.Delete("/v1/keys/not-a-key-id")->status, 400);

  // Bad creations.
  for (const char* body : {R"({"role":"root"})", R"({})", R"({"role":"reader","expires":"soon"})",
                           R"({"role":"reader","expires":""})", R"({"role":"admin","collections":["a"]})",
                           R"({"role":"reader","collections":"a"})",
                           R"({"role":"reader","collections":["../etc"]})",
                           R"({"role":"reader","scope":["a"]})", R"({"role":5})"}) {
    auto r = admin.Post("/v1/keys", body, "application/json");
    EXPECT_EQ(r->status, 400) << body << " → " << r->body;
    EXPECT_TRUE(testing::IsErrorShape(r->body)) << body;
  }
}

TEST_F(AuthzTest, LastActiveAdminKeyCannotBeRevokedOverHttp) {
  // Revoke every admin key but the one we use (the revoked/expired fixtures are inactive).
  auto admin = srv_->Client(keys_["admin"]);
  const std::string own = keys_["admin"].substr(4, 16);
  auto r = admin.Delete(("/v1/keys/" + own).c_str());
  EXPECT_EQ(r->status, 412) << r->body;
  EXPECT_NE(r->body.find("last active admin"), std::string::npos) << r->body;
  EXPECT_EQ(admin.Get("/v1/keys")->status, 200);  // still works
}

TEST_F(AuthzTest, KeyExpiresOverHttp) {
  auto admin = srv_->Client(keys_["admin"]);
  auto created = admin.Post("/v1/keys", R"({"role":"reader","expires":"1s"})", "application/json");
  ASSERT_EQ(created->status, 201) << created->body;
  const std::string key = json::parse(created->body)["key"];
  EXPECT_EQ(srv_->Client(key).Get("/v1/collections")->status, 200);
  std::this_thread::sleep_for(std::chrono::milliseconds(1100));
  auto r = srv_->Client(key).Get("/v1/collections");
  EXPECT_EQ(r->status, 401);
}

TEST_F(AuthzTest, AuditLogRecordsSecurityEventsForAdminsOnly) {
  auto admin = srv_->Client(keys_["admin"]);
  // auth.failure with a claimed id; the secret never appears.
  const std::string wrong = "dkb_00000000deadbeef_" + std::string(64, '7');
  EXPECT_EQ(srv_->Client(wrong).Get("/v1/collections")->status, 401);
  // auth.denied
  EXPECT_EQ(srv_->Client(keys_["reader"]).Delete("/v1/collections/a")->status, 403);
  EXPECT_EQ(srv_->Client(scoped_["writer"]).Post("/v1/collections", R"({"name":"zz"})",
                                                 "application/json")->status, 403);
  // key.create / key.revoke / document.delete / collection.delete
  auto created = admin.Post("/v1/keys", R"({"role":"reader"})", "application/json");
  ASSERT_EQ(created->status, 201);
  const std::string new_key = json::parse(created->body)["key"];
  const std::string new_id = json::parse(created->body)["id"];
  EXPECT_EQ(admin.Delete(("/v1/keys/" + new_id).c_str())->status, 200);
  EXPECT_EQ(srv_->Client(keys_["writer"]).Delete("/v1/collections/a/documents/doc1")->status, 200);
  EXPECT_EQ(admin.Delete("/v1/collections/b")->status, 200);

  auto r = admin.Get("/v1/audit?limit=100");
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->body.find(std::string(64, '7')), std::string::npos);
  EXPECT_EQ(r->body.find(new_key.substr(21)), std::string::npos);
  std::map<std::string, json> by_action;
  const json events = json::parse(r->body);
  for (const auto& e : events["events"]) by_action[e["action"]] = e;
  ASSERT_TRUE(by_action.count("auth.failure"));
  EXPECT_EQ(by_action["auth.failure"]["key_id"], "00000000deadbeef");
  EXPECT_EQ(by_action["auth.failure"]["client"], "127.0.0.1");
  ASSERT_TRUE(by_action.count("auth.denied"));
  ASSERT_TRUE(by_action.count("key.create"));
  EXPECT_EQ(by_action["key.create"]["resource"], new_id);
  EXPECT_EQ(by_action["key.create"]["key_id"], keys_["admin"].substr(4, 16));
  ASSERT_TRUE(by_action.count("key.revoke"));
  ASSERT_TRUE(by_action.count("document.delete"));
  EXPECT_EQ(by_action["document.delete"]["resource"], "a/doc1");
  EXPECT_EQ(by_action["document.delete"]["key_id"], keys_["writer"].substr(4, 16));
  ASSERT_TRUE(by_action.count("collection.delete"));
  EXPECT_EQ(by_action["collection.delete"]["resource"], "b");

  // Both handler-level and dispatch-level 403s were recorded.
  auto denied = json::parse(admin.Get("/v1/audit?action=auth.denied")->body)["events"];
  EXPECT_EQ(denied.size(), 2u);

  // Filters and paging: newest first, `before` continues.
  auto page1 = json::parse(admin.Get("/v1/audit?limit=2")->body);
  ASSERT_EQ(page1["events"].size(), 2u);
  EXPECT_GT(page1["events"][0]["id"].get<int64_t>(), page1["events"][1]["id"].get<int64_t>());
  const int64_t next = page1["next_before"];
  auto page2 = json::parse(admin.Get(("/v1/audit?limit=2&before=" + std::to_string(next)).c_str())->body);
  ASSERT_FALSE(page2["events"].empty());
  EXPECT_LT(page2["events"][0]["id"].get<int64_t>(), next);
  EXPECT_TRUE(json::parse(admin.Get("/v1/audit?since=99999999999999")->body)["events"].empty());
  for (const char* q : {"/v1/audit?limit=0", "/v1/audit?limit=1001", "/v1/audit?limit=abc",
                        "/v1/audit?before=-1", "/v1/audit?since=1e400",
                        "/v1/audit?limit=1180591620717411303424"}) {
    auto bad = admin.Get(q);
    EXPECT_EQ(bad->status, 400) << q;
    EXPECT_TRUE(testing::IsErrorShape(bad->body)) << q;
  }
  EXPECT_EQ(srv_->Client(keys_["writer"]).Get("/v1/audit")->status, 403);
}

}  // namespace
}  // namespace deepkb
