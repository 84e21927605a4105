// Hostile and malformed input over real loopback HTTP: each must get a 4xx with the contract's
// error shape and a message that says what is wrong, and the server must keep serving.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "in_process_server.h"

namespace deepkb {
namespace {

using nlohmann::json;

class BadInputTest : public ::testing::Test {
 protected:
  void SetUp() override {
    srv_ = std::make_unique<testing::InProcessServer>();
    auto k = srv_->keys().Create("admin", {}, 0);
    ASSERT_TRUE(k.ok());
    admin_ = *k;
    ASSERT_TRUE(srv_->kb().CreateCollection({.name = "a"}).ok());
    kb::PutDocumentRequest p;
    p.collection = "a";
    p.doc_id = "doc1";
    p.bytes = "hello world";
    p.format = text::Format::kText;
    ASSERT_TRUE(srv_->kb().PutDocument(p).ok());
  }
  void TearDown() override {
    // Whatever happened, the server still answers.
    auto h = srv_->Client().Get("/healthz");
    ASSERT_TRUE(h) << "server stopped answering";
    EXPECT_EQ(h->status, 200);
    auto authed = srv_->Client(admin_).Get("/v1/collections");
    ASSERT_TRUE(authed);
    EXPECT_EQ(authed->status, 200);
  }

  // Asserts a 4xx (or exactly `want` when given) with the error shape and a message containing
  // `needle`.
  void Expect4xx(const httplib::Result& r, const std::string& what, const std::string& needle = "",
                 int want = 0) {
    ASSERT_TRUE(r) << what << ": no response (" << httplib::to_string(r.error()) << ")";
    if (want) {
      EXPECT_EQ(r->status, want) << what << ": " << r->body;
    }
    EXPECT_GE(r->status, 400) << what << ": " << r->body;
    EXPECT_LT(r->status, 500) << what << ": " << r->body;
    EXPECT_TRUE(testing::IsErrorShape(r->body)) << what << ": " << r->body;
    if (!needle.empty()) {
      EXPECT_NE(r->body.find(needle), std::string::npos) << what << ": " << r->body;
    }
  }

  httplib::Result Post(const std::string& path, const std::string& body) {
    return srv_->Client(admin_).Post(path.c_str(), body, "application/json");
  }
  httplib::Result Put(const std::string& path, const std::string& body) {
    return srv_->Client(admin_).Put(path.c_str(), body, "application/json");
  }

  std::unique_ptr<testing::InProcessServer> srv_;
  std::string admin_;
};

TEST_F(BadInputTest, MalformedJson) {
  for (const char* body : {"{not json", "{\"name\": ", "", "[1,2", "\"just a string\"", "[]", "null",
                           "{\"name\":\"x\"} trailing", "{\"a\":1e400}"}) {
    Expect4xx(Post("/v1/collections", body), std::string("collections ") + body, "", 400);
    Expect4xx(Post("/v1/collections/a/search", body), std::string("search ") + body, "", 400);
    Expect4xx(Post("/v1/keys", body), std::string("keys ") + body, "", 400);
  }
  Expect4xx(Put("/v1/collections/a/documents/d", "{\"text\": \"unterminated"), "put", "JSON", 400);
}

TEST_F(BadInputTest, DeeplyNestedJsonIsRefusedNotRecursedInto) {
  const std::string deep = "{\"query\":\"x\",\"filter\":{\"a\":" + std::string(200000, '[') +
                           std::string(200000, ']') + "}}";
  Expect4xx(Post("/v1/collections/a/search", deep), "nested filter", "nested too deeply", 400);
  Expect4xx(Put("/v1/collections/a/documents/d",
                "{\"text\":\"x\",\"metadata\":{\"m\":" + std::string(100000, '[') +
                    std::string(100000, ']') + "}}"),
            "nested metadata", "nested too deeply", 400);
  // Brackets inside strings do not count.
  auto ok = Post("/v1/collections/a/search",
                 "{\"query\":\"" + std::string(1000, '[') + "\",\"mode\":\"keyword\"}");
  ASSERT_TRUE(ok);
  EXPECT_EQ(ok->status, 200) << ok->body;
}

TEST_F(BadInputTest, WrongTypes) {
  Expect4xx(Post("/v1/collections", R"({"name": 5})"), "name number", "'name'", 400);
  Expect4xx(Post("/v1/collections", R"({"name": "x", "chunk_tokens": "512"})"), "chunk_tokens string",
            "'chunk_tokens'", 400);
  Expect4xx(Post("/v1/collections", R"({"name": "x", "chunk_tokens": 3.5})"), "chunk_tokens float",
            "'chunk_tokens'", 400);
  Expect4xx(Post("/v1/collections/a/search", R"({"query": ["x"]})"), "query array", "'query'", 400);
  Expect4xx(Post("/v1/collections/a/search", R"({"query": "x", "top_k": "10"})"), "top_k string",
            "'top_k'", 400);
  Expect4xx(Post("/v1/collections/a/search", R"({"query": "x", "top_k": true})"), "top_k bool",
            "'top_k'", 400);
  Expect4xx(Post("/v1/collections/a/search", R"({"query": "x", "filter": "team=ops"})"),
            "filter string", "filter", 400);
  Expect4xx(Post("/v1/collections/a/search", R"({"query": "x", "fusion": {"k": "60"}})"),
            "fusion k string", "'k'", 400);
  Expect4xx(Put("/v1/collections/a/documents/d", R"({"text": 42})"), "text number", "'text'", 400);
  Expect4xx(Put("/v1/collections/a/documents/d", R"({"text": "x", "metadata": [1]})"),
            "metadata array", "metadata", 400);
  Expect4xx(Post("/v1/keys", R"({"role": ["admin"]})"), "role array", "'role'", 400);
  Expect4xx(Post("/v1/keys", R"({"role": "reader", "expires": 90})"), "expires number",
            "'expires'", 400);
}

TEST_F(BadInputTest, HugeNumbers) {
  for (const char* n : {"1e400", "-1e400", "1180591620717411303424", "18446744073709551615",
                        "4294967297", "-9223372036854775809", "1e18", "10.0"}) {
    Expect4xx(Post("/v1/collections/a/search", std::string(R"({"query":"x","top_k":)") + n + "}"),
              std::string("top_k ") + n, "", 400);
  }
  Expect4xx(Post("/v1/collections", R"({"name":"big","chunk_tokens":1180591620717411303424})"),
            "chunk_tokens 2^70", "", 400);
  EXPECT_FALSE(srv_->kb().GetCollection("big").ok());
  auto c = srv_->Client(admin_);
  for (const char* q : {"/v1/collections/a/documents?limit=1180591620717411303424",
                        "/v1/collections/a/documents?limit=1e400",
                        "/v1/collections/a/documents?limit=4294967297",
                        "/v1/audit?limit=1180591620717411303424", "/v1/audit?before=1e400"}) {
    Expect4xx(c.Get(q), q, "", 400);
  }
}

TEST_F(BadInputTest, UnknownFieldsAreRejectedByName) {
  Expect4xx(Post("/v1/collections", R"({"name":"x","nmae":"y"})"), "collections", "'nmae'", 400);
  EXPECT_FALSE(srv_->kb().GetCollection("x").ok());
  Expect4xx(Post("/v1/collections/a/search", R"({"query":"x","topk":3})"), "search", "'topk'", 400);
  Expect4xx(Post("/v1/collections/a/search", R"({"query":"x","fusion":{"methd":"rrf"}})"),
            "fusion", "'methd'", 400);
  Expect4xx(Put("/v1/collections/a/documents/d", R"({"text":"x","titel":"y"})"), "put", "'titel'",
            400);
  Expect4xx(Post("/v1/keys", R"({"role":"reader","scope":["a"]})"), "keys", "'scope'", 400);
}

TEST_F(BadInputTest, PathTraversalInIds) {
  auto c = srv_->Client(admin_);
  for (const char* path :
       {"/v1/collections/a/documents/../b", "/v1/collections/a/documents/..%2F..%2Fetc%2Fpasswd",
        "/v1/collections/a/documents/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
        "/v1/collections/a/documents/x/../../y", "/v1/collections/a/documents/.",
        "/v1/collections/a/documents/..", "/v1/collections/a/documents/x%00y",
        "/v1/collections/a/documents/%00", "/v1/collections/a/documents/..%5C..%5Cwin.ini"}) {
    Expect4xx(c.Get(path), std::string("GET ") + path);
    Expect4xx(c.Delete(path), std::string("DELETE ") + path);
    Expect4xx(c.Put(path, R"({"text":"x"})", "application/json"), std::string("PUT ") + path);
  }
  for (const char* path : {"/v1/collections/..", "/v1/collections/..%2Fa",
                           "/v1/collections/%2e%2e", "/v1/collections/a%00b",
                           "/v1/collections/..%2F..%2Fdocuments"}) {
    Expect4xx(c.Get(path), std::string("GET ") + path);
    Expect4xx(c.Delete(path), std::string("DELETE ") + path);
  }
  for (const char* path : {"/v1/keys/..", "/v1/keys/..%2F..%2Fx", "/v1/keys/%00",
                           "/v1/keys/0123456789abcde%00"}) {
    Expect4xx(c.Delete(path), std::string("DELETE ") + path);
  }
  // Nothing was created or removed.
  EXPECT_TRUE(srv_->kb().GetDocument("a", "doc1").ok());
  auto docs = srv_->kb().ListDocuments("a", "", 100);
  ASSERT_TRUE(docs.ok());
  EXPECT_EQ(docs->size(), 1u);
}

TEST_F(BadInputTest, HeaderInjectionIsNeverEchoed) {
  // A request id with encoded CR/LF: not plain, so replaced by a fresh id rather than echoed.
  auto c = srv_->Client(admin_);
  httplib::Headers h = {{"X-Request-Id", "abc%0d%0aSet-Cookie:%20evil=1"}};
  auto r = c.Get("/v1/collections", h);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  EXPECT_FALSE(r->has_header("Set-Cookie"));
  EXPECT_EQ(r->get_header_value("X-Request-Id").find("Set-Cookie"), std::string::npos);

  // Raw CR, LF and obs-fold inside header values, sent byte for byte.
  const std::string auth = "Authorization: Bearer " + admin_ + "\r\n";
  for (const std::string& evil :
       {std::string("X-Request-Id: abc\rSet-Cookie: evil=1\r\n"),
        std::string("X-Request-Id: abc\nSet-Cookie: evil=1\r\n"),
        std::string("X-Request-Id: abc\r\n Set-Cookie: evil=1\r\n"),
        std::string("X-Request-Id: abc\r\n\tSet-Cookie: evil=1\r\n"),
        std::string("X-Request-Id: ") + std::string(10000, 'a') + "\r\n",
        std::string("X-Source: a\rSet-Cookie: evil=1\r\n")}) {
    const std::string raw = "GET /v1/collections HTTP/1.1\r\nHost: 127.0.0.1\r\n" + auth + evil +
                            "Connection: close\r\n\r\n";
    const std::string resp = srv_->Raw(raw);
    ASSERT_FALSE(resp.empty()) << "no answer to " << evil;
    const std::string head = resp.substr(0, resp.find("\r\n\r\n"));
    EXPECT_EQ(head.find("Set-Cookie"), std::string::npos) << head;
    EXPECT_EQ(head.find("evil"), std::string::npos) << head;
    // Every echoed X-Request-Id is plain.
    const size_t at = head.find("X-Request-Id: ");
    if (at != std::string::npos) {
      const std::string id = head.substr(at + 14, head.find("\r\n", at) - at - 14);
      EXPECT_LE(id.size(), 64u);
      for (char ch : id) {
        EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '-' || ch == '_' ||
                    ch == '.')
            << id;
      }
    }
    const int status = std::stoi(resp.substr(9, 3));
    EXPECT_TRUE(status == 200 || (status >= 400 && status < 500)) << resp.substr(0, 200);
  }
  // CR/LF in a stored-and-echoed header (X-Source becomes the document's source): stored as
  // data, returned JSON-escaped, never as a header.
  httplib::Headers src = {{"X-Source", "file.txt%0d%0aSet-Cookie: x"}};
  auto put = c.Put("/v1/collections/a/documents/hdr", src, "plain text body", "text/plain");
  ASSERT_TRUE(put);
  EXPECT_LT(put->status, 300) << put->body;
  EXPECT_FALSE(put->has_header("Set-Cookie"));
}

TEST_F(BadInputTest, OversizedFields) {
  Expect4xx(Post("/v1/collections/a/search", json{{"query", std::string(20000, 'q')}}.dump()),
            "query 20 KB", "too long", 400);
  Expect4xx(Post("/v1/collections", json{{"name", std::string(300, 'n')}}.dump()), "name 300",
            "collection name", 400);
  Expect4xx(Put("/v1/collections/a/documents/d", json{{"text", "x"}, {"title", std::string(5000, 't')}}.dump()),
            "title 5 KB", "too long", 400);
  Expect4xx(Put("/v1/collections/a/documents/d",
                json{{"text", "x"}, {"metadata", {{"m", std::string(70000, 'm')}}}}.dump()),
            "metadata 70 KB", "too long", 400);
  Expect4xx(Put("/v1/collections/a/documents/" + std::string(600, 'd'), R"({"text":"x"})"),
            "doc id 600", "document id", 400);
  Expect4xx(Post("/v1/keys", json{{"role", "reader"}, {"collections", {std::string(300, 'c')}}}.dump()),
            "scope name 300", "collection name", 400);
  std::vector<std::string> many;
  for (int i = 0; i < 300; ++i) many.push_back("c" + std::to_string(i));
  Expect4xx(Post("/v1/keys", json{{"role", "reader"}, {"collections", many}}.dump()),
            "300 scope names", "at most", 400);
  Expect4xx(Post("/v1/keys", json{{"role", "reader"}, {"expires", std::string(5000, '9') + "d"}}.dump()),
            "expires huge", "duration", 400);
  // A header far over cpp-httplib's line limit: refused, server fine.
  const std::string resp = srv_->Raw("GET /v1/collections HTTP/1.1\r\nHost: x\r\nX-Big: " +
                                     std::string(200000, 'b') + "\r\nConnection: close\r\n\r\n");
  if (!resp.empty()) {
    const int status = std::stoi(resp.substr(9, 3));
    EXPECT_GE(status, 400) << resp.substr(0, 200);
    EXPECT_LT(status, 500) << resp.substr(0, 200);
  }
}

TEST_F(BadInputTest, GarbageRequestsDoNotStopTheServer) {
  for (const std::string& raw :
       {std::string("GARBAGE\r\n\r\n"), std::string("GET / HTTP/9.9\r\n\r\n"),
        std::string("POST /v1/collections HTTP/1.1\r\nContent-Length: -5\r\n\r\n"),
        std::string("POST /v1/collections HTTP/1.1\r\nContent-Length: 99999999999999999999\r\n\r\n"),
        std::string("GET /v1/collections HTTP/1.1\r\nAuthorization: Bearer \0x\r\n\r\n", 54),
        std::string(50000, '\0'), std::string("\r\n\r\n\r\n")}) {
    const std::string resp = srv_->Raw(raw, 1);
    if (resp.size() >= 12 && resp.compare(0, 5, "HTTP/") == 0) {
      const int status = std::stoi(resp.substr(9, 3));
      EXPECT_GE(status, 400) << resp.substr(0, 200);
      EXPECT_LT(status, 500) << resp.substr(0, 200);
    }
  }
}

// Compressed bodies are inflated by cpp-httplib before any handler and outside the body limit;
// they are refused before reading except on POST /v1/sync/apply from a writer or admin key.
TEST_F(BadInputTest, CompressedBodiesOnlyForSyncApplyFromWriters) {
  const std::string bomb_like(64, 'x');  // never inflated: refused on the headers
  const httplib::Headers gzip = {{"Content-Encoding", "gzip"}};
  auto admin = srv_->Client(admin_);
  auto r = admin.Post("/v1/collections", gzip, bomb_like, "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 415) << r->body;
  EXPECT_NE(r->body.find("Content-Encoding"), std::string::npos);
  auto anonymous = srv_->Client().Post("/v1/sync/apply", gzip, bomb_like, "application/json");
  ASSERT_TRUE(anonymous);
  EXPECT_EQ(anonymous->status, 401);
  const std::string reader = srv_->keys().Create("reader", {}, 0).value();
  auto denied = srv_->Client(reader).Post("/v1/sync/apply", gzip, bomb_like, "application/json");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403);
  // identity is fine anywhere
  auto plain = admin.Post("/v1/collections", {{"Content-Encoding", "identity"}},
                          R"({"name":"plain_enc"})", "application/json");
  ASSERT_TRUE(plain);
  EXPECT_EQ(plain->status, 201) << plain->body;
}

// A second server on a port that is in use must fail to bind, not share the port (cpp-httplib's
// default socket options set SO_REUSEPORT, which would let it bind and take half the traffic).
TEST_F(BadInputTest, SecondServerCannotBindAPortInUse) {
  server::ServerOptions opts;
  opts.host = "127.0.0.1";
  opts.port = srv_->port();
  server::KbServer second(srv_->kb(), srv_->keys(), opts);
  auto bound = second.Bind();
  ASSERT_FALSE(bound.ok()) << "bound port " << srv_->port() << " twice";
  EXPECT_EQ(bound.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(bound.status().message().find("--listen"), std::string::npos);
}

}  // namespace
}  // namespace deepkb
