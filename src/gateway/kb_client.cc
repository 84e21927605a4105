// The only translation unit of deepkb_kbclient that includes cpp-httplib; nothing throws out of
// it. Behaviour and wire format: kb_client.h.
#include "gateway/kb_client.h"

#include <httplib.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>

#include "common/utf8.h"
#include "embed/openai_embedder.h"
#include "llm/openai_upstream.h"

namespace deepkb::gateway {

using json = nlohmann::json;
using Clock = RemoteKb::Clock;

namespace {

constexpr size_t kMaxResponseBytes = 16u << 20;
constexpr size_t kMaxErrorBody = 64u << 10;
constexpr size_t kMaxIdleClients = 8;
constexpr size_t kMaxRemoteMessage = 300;
constexpr double kMaxSeconds = 600;
constexpr char kFlagForm[] =
    "NAME=URL[,key-file=F][,key-env=VAR][,ca=F][,replica=URL][,replica-key-file=F]"
    "[,replica-key-env=VAR][,replica-ca=F][,timeout=SECONDS][,connect-timeout=SECONDS]";

std::string Seconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", s);
  return buf;
}

Status ValidateName(std::string_view name) {
  const bool ok =
      !name.empty() && name.size() <= 64 && std::isalnum(static_cast<unsigned char>(name[0])) &&
      std::all_of(name.begin(), name.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
      });
  if (ok) return Status::Ok();
  return InvalidArgumentError("the knowledge base name '" + std::string(name) +
                              "' must be 1-64 ASCII letters, digits, '_', '.' or '-', starting "
                              "with a letter or digit");
}

// http(s)://host[:port][/prefix] with a trailing "/" or "/v1" dropped.
Result<embed::OpenAiTarget> ParseKbUrl(std::string_view url) {
  std::string why;
  if (url.empty()) {
    why = "the URL is empty";
  } else if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0) {
    why = "it must start with http:// or https://";
  } else {
    auto t = embed::ParseOpenAiTarget("kb@" + std::string(url));
    if (t.ok()) return t;
    // The parser's message reads "embedder spec: <reason>; expected MODEL@URL ..."; keep the
    // reason only.
    why = t.status().message();
    if (const size_t p = why.find(": "); p != std::string::npos) why.erase(0, p + 2);
    if (const size_t p = why.find("; expected"); p != std::string::npos) why.resize(p);
  }
  return InvalidArgumentError("the URL '" + std::string(url) + "' is not usable: " + why +
                              "; expected http(s)://host[:port]");
}

// Seconds in (0, kMaxSeconds].
bool ValidSeconds(double s) { return std::isfinite(s) && s > 0 && s <= kMaxSeconds; }

// The error text of a contract error body (`{"error":{"message"}}`), or "".
std::string RemoteMessage(const std::string& body) {
  const json j = json::parse(body, nullptr, false);
  std::string msg;
  if (j.is_object()) {
    if (auto e = j.find("error"); e != j.end() && e->is_object()) {
      if (auto m = e->find("message"); m != e->end() && m->is_string()) msg = *m;
    }
  }
  for (char& c : msg) {
    if (static_cast<unsigned char>(c) < 0x20) c = ' ';
  }
  if (msg.size() > kMaxRemoteMessage) msg.resize(utf8::FloorBoundary(msg, kMaxRemoteMessage));
  return msg;
}

// Collection names allow any script; everything but [A-Za-z0-9_.-] is percent-encoded.
std::string EncodeSegment(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '_' || c == '.' || c == '-') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

Result<std::string> RequestBody(const kb::SearchRequest& req) {
  json b{{"query", req.query}, {"mode", req.mode}, {"top_k", req.top_k}};
  if (!req.filter_json.empty()) {
    json f = json::parse(req.filter_json, nullptr, false);
    if (!f.is_object()) return InvalidArgumentError("the search filter must be a JSON object");
    b["filter"] = std::move(f);
  }
  const kb::SearchRequest d;
  if (req.fusion != d.fusion || req.rrf_k != d.rrf_k || req.keyword_weight != d.keyword_weight ||
      req.vector_weight != d.vector_weight) {
    b["fusion"] = {{"method", req.fusion},
                   {"k", req.rrf_k},
                   {"keyword_weight", req.keyword_weight},
                   {"vector_weight", req.vector_weight}};
  }
  if (req.ef > 0) b["ef"] = req.ef;
  try {
    return b.dump(-1, ' ', false, json::error_handler_t::replace);
  } catch (const std::exception&) {
    return InvalidArgumentError("cannot encode the search request");
  }
}

// Optional string field: absent or null leaves `out` alone.
bool ReadString(const json& hit, const char* field, std::string& out) {
  auto it = hit.find(field);
  if (it == hit.end() || it->is_null()) return true;
  if (!it->is_string()) return false;
  out = it->get<std::string>();
  return true;
}

// Optional non-negative integer field that fits an int.
bool ReadInt(const json& hit, const char* field, int& out) {
  auto it = hit.find(field);
  if (it == hit.end() || it->is_null()) return true;
  if (!it->is_number_integer()) return false;
  const int64_t v = it->get<int64_t>();
  if (v < 0 || v > INT32_MAX) return false;
  out = static_cast<int>(v);
  return true;
}

}  // namespace

Result<RemoteKbConfig> ParseRemoteKbFlag(std::string_view flag) {
  const size_t eq = flag.find('=');
  if (eq == std::string_view::npos) {
    return InvalidArgumentError("--remote-kb '" + std::string(flag) + "': expected " + kFlagForm);
  }
  RemoteKbConfig c;
  c.name = std::string(flag.substr(0, eq));
  RETURN_IF_ERROR(ValidateName(c.name).WithContext("--remote-kb"));
  const std::string ctx = "--remote-kb " + c.name;

  std::vector<std::string_view> parts;
  std::string_view rest = flag.substr(eq + 1);
  for (size_t comma; (comma = rest.find(',')) != std::string_view::npos;) {
    parts.push_back(rest.substr(0, comma));
    rest.remove_prefix(comma + 1);
  }
  parts.push_back(rest);
  c.primary.url = std::string(parts[0]);
  RETURN_IF_ERROR(ParseKbUrl(c.primary.url).status().WithContext(ctx));

  KbEndpoint replica;
  bool has_replica = false;
  std::string replica_attr;  // the first replica-* attribute seen
  struct Text {
    const char* name;
    std::string* out;
  };
  const Text texts[] = {{"key-file", &c.primary.api_key_file},
                        {"key-env", &c.primary.api_key_env},
                        {"ca", &c.primary.ca_file},
                        {"replica", &replica.url},
                        {"replica-key-file", &replica.api_key_file},
                        {"replica-key-env", &replica.api_key_env},
                        {"replica-ca", &replica.ca_file}};
  std::set<std::string, std::less<>> seen;
  for (size_t i = 1; i < parts.size(); ++i) {
    const std::string_view part = parts[i];
    if (part.empty()) return InvalidArgumentError(ctx + ": empty attribute (two commas in a row?)");
    const size_t peq = part.find('=');
    const std::string attr(part.substr(0, peq));
    const std::string value(peq == std::string_view::npos ? "" : part.substr(peq + 1));
    if (value.empty()) {
      return InvalidArgumentError(ctx + ": attribute '" + attr + "' needs a value (" + attr +
                                  "=...)");
    }
    if (!seen.insert(attr).second) {
      return InvalidArgumentError(ctx + ": attribute '" + attr + "' given twice");
    }
    if (attr == "timeout" || attr == "connect-timeout") {
      char* end = nullptr;
      const double s = std::strtod(value.c_str(), &end);
      if (end != value.c_str() + value.size() || !ValidSeconds(s)) {
        return InvalidArgumentError(ctx + ": " + attr + "=" + value +
                                    " must be a number of seconds in (0, 600]");
      }
      (attr == "timeout" ? c.timeout_seconds : c.connect_timeout_seconds) = s;
      continue;
    }
    const Text* t = std::find_if(std::begin(texts), std::end(texts),
                                 [&](const Text& x) { return attr == x.name; });
    if (t == std::end(texts)) {
      return InvalidArgumentError(ctx + ": unknown attribute '" + attr + "'; expected " +
                                  kFlagForm);
    }
    *t->out = value;
    if (attr == "replica") {
      has_replica = true;
      RETURN_IF_ERROR(ParseKbUrl(value).status().WithContext(ctx + ": replica"));
    } else if (attr.rfind("replica-", 0) == 0 && replica_attr.empty()) {
      replica_attr = attr;
    }
  }
  if (!replica_attr.empty() && !has_replica) {
    return InvalidArgumentError(ctx + ": " + replica_attr + " needs replica=URL");
  }
  if (has_replica) c.replica = std::move(replica);
  return c;
}

// One node: its parsed URL, key, and idle keep-alive connections.
struct RemoteKb::Endpoint {
  std::string role;  // "primary" or "replica"
  KbEndpoint config;
  embed::OpenAiTarget target;
  std::string key;  // never logged
  std::mutex mu;
  std::vector<std::unique_ptr<httplib::Client>> idle;  // guarded by mu

  std::unique_ptr<httplib::Client> Take() {
    {
      std::lock_guard<std::mutex> lock(mu);
      if (!idle.empty()) {
        auto c = std::move(idle.back());
        idle.pop_back();
        return c;
      }
    }
    auto c = std::make_unique<httplib::Client>(target.scheme_host_port);
    c->set_keep_alive(true);
    c->set_tcp_nodelay(true);
    c->enable_server_certificate_verification(true);
    if (!config.ca_file.empty()) c->set_ca_cert_path(config.ca_file);
    return c;
  }
  void GiveBack(std::unique_ptr<httplib::Client> c) {
    std::lock_guard<std::mutex> lock(mu);
    if (idle.size() < kMaxIdleClients) idle.push_back(std::move(c));
  }
};

// The outcome of asking one endpoint.
struct RemoteKb::Attempt {
  StatusCode code = StatusCode::kOk;  // kOk: `hits` hold the answer
  bool fall_back = false;             // the endpoint cannot answer now; a replica may
  std::string reason;                 // "cannot connect", "answered HTTP 503: ...", ...
  std::vector<kb::SearchHit> hits;
};

RemoteKb::RemoteKb(RemoteKbConfig config) : config_(std::move(config)) {}
RemoteKb::~RemoteKb() = default;

Result<std::unique_ptr<RemoteKb>> RemoteKb::Create(RemoteKbConfig config) {
  RETURN_IF_ERROR(ValidateName(config.name));
  const std::string who = "knowledge base '" + config.name + "'";
  if (!ValidSeconds(config.timeout_seconds) || !ValidSeconds(config.connect_timeout_seconds)) {
    return InvalidArgumentError(who + ": timeouts must be in (0, 600] seconds");
  }
  auto make = [&](const KbEndpoint& e, const char* role) -> Result<std::unique_ptr<Endpoint>> {
    const std::string ctx = who + " " + role;
    auto ep = std::make_unique<Endpoint>();
    ep->role = role;
    ep->config = e;
    auto target = ParseKbUrl(e.url);
    if (!target.ok()) return target.status().WithContext(ctx);
    ep->target = std::move(target).value();
    if (!e.ca_file.empty()) {
      if (ep->target.scheme_host_port.rfind("https://", 0) != 0) {
        return InvalidArgumentError(ctx + ": a CA file only applies to https:// URLs; drop it or "
                                    "use https://");
      }
      if (!std::ifstream(e.ca_file)) {
        return FailedPreconditionError(ctx + ": cannot read the CA file " + e.ca_file);
      }
    }
    llm::UpstreamConfig uc;  // LoadApiKey reads the same file-then-variable pair
    uc.name = config.name;
    uc.api_key_file = e.api_key_file;
    uc.api_key_env = e.api_key_env;
    auto key = llm::LoadApiKey(uc);
    if (!key.ok()) {
      std::string m = key.status().message();
      const std::string theirs = "upstream '" + uc.name + "': ";
      if (m.rfind(theirs, 0) == 0) m.erase(0, theirs.size());
      return FailedPreconditionError(ctx + ": " + m);
    }
    ep->key = std::move(key).value();
    try {
      httplib::Client probe(ep->target.scheme_host_port);
      if (!probe.is_valid()) return InvalidArgumentError(ctx + ": cannot use " + e.url);
    } catch (const std::exception&) {
      return InvalidArgumentError(ctx + ": cannot use " + e.url);
    }
    return ep;
  };
  std::unique_ptr<RemoteKb> kb(new RemoteKb(config));
  ASSIGN_OR_RETURN(kb->primary_, make(config.primary, "primary"));
  if (config.replica) {
    ASSIGN_OR_RETURN(kb->replica_, make(*config.replica, "replica"));
  }
  return kb;
}

Result<std::vector<kb::SearchHit>> RemoteKb::ParseSearchResponse(std::string_view body,
                                                                 int top_k) {
  const json j = json::parse(body, nullptr, false);
  if (j.is_discarded()) return InternalError("the body is not valid JSON");
  if (!j.is_object()) return InternalError("the body is not a JSON object");
  auto hits = j.find("hits");
  if (hits == j.end() || !hits->is_array()) return InternalError("\"hits\" is not an array");
  std::vector<kb::SearchHit> out;
  for (size_t i = 0; i < hits->size(); ++i) {
    if (top_k > 0 && out.size() >= static_cast<size_t>(top_k)) break;
    const json& h = (*hits)[i];
    auto bad = [&](const char* what) {
      return InternalError("hit " + std::to_string(i + 1) + ": " + what);
    };
    if (!h.is_object()) return bad("not a JSON object");
    kb::SearchHit hit;
    auto doc = h.find("doc_id");
    if (doc == h.end() || !doc->is_string() || doc->get_ref<const std::string&>().empty()) {
      return bad("\"doc_id\" is missing or not a non-empty string");
    }
    hit.doc_id = doc->get<std::string>();
    auto chunk = h.find("chunk_id");
    if (chunk == h.end() || !chunk->is_number_integer()) {
      return bad("\"chunk_id\" is missing or not an integer");
    }
    hit.chunk_id = chunk->get<int64_t>();
    auto score = h.find("score");
    if (score == h.end() || !score->is_number() || !std::isfinite(score->get<double>())) {
      return bad("\"score\" is missing or not a number");
    }
    hit.score = score->get<double>();
    auto text = h.find("text");
    if (text == h.end() || !text->is_string()) return bad("\"text\" is missing or not a string");
    hit.text = text->get<std::string>();
    for (auto [field, out_str] : {std::pair{"highlight", &hit.highlight},
                                  std::pair{"title", &hit.title}, std::pair{"source", &hit.source},
                                  std::pair{"heading_path", &hit.heading_path}}) {
      if (!ReadString(h, field, *out_str)) return bad("a text field is not a string");
    }
    if (!ReadInt(h, "keyword_rank", hit.keyword_rank) ||
        !ReadInt(h, "vector_rank", hit.vector_rank) || !ReadInt(h, "page", hit.page)) {
      return bad("a rank or page is not a non-negative integer");
    }
    if (auto m = h.find("metadata"); m != h.end() && !m->is_null()) {
      if (!m->is_object()) return bad("\"metadata\" is not a JSON object");
      hit.metadata_json = m->dump(-1, ' ', false, json::error_handler_t::replace);
    }
    out.push_back(std::move(hit));
  }
  return out;
}

RemoteKb::Attempt RemoteKb::Ask(Endpoint& ep, const std::string& collection,
                                const std::string& body, int top_k, Clock::time_point deadline) {
  Attempt a;
  const auto start = Clock::now();
  const double remaining = std::chrono::duration<double>(deadline - start).count();
  // The caller's deadline, when it comes before our own timeout, is the limit.
  const bool capped = remaining < config_.timeout_seconds;
  const double limit = std::max(std::min(remaining, config_.timeout_seconds), 0.001);
  const auto call_deadline = start + std::chrono::microseconds(static_cast<int64_t>(limit * 1e6));
  auto timeout = [&](const std::string& what) {
    if (capped) {
      a.code = StatusCode::kDeadlineExceeded;
      a.fall_back = false;
      a.reason = what + " before the caller's deadline";
    } else {
      a.code = StatusCode::kUnavailable;
      a.fall_back = true;
      a.reason = what + " within " + Seconds(config_.timeout_seconds);
    }
    return a;
  };

  httplib::Request req;
  req.method = "POST";
  req.path = ep.target.path_prefix + "/v1/collections/" + collection + "/search";
  req.set_header("Content-Type", "application/json");
  req.set_header("Accept", "application/json");
  if (!ep.key.empty()) req.set_header("Authorization", "Bearer " + ep.key);
  req.body = body;

  int status = 0;
  std::string answer;
  std::string stop;        // why we cut the answer off, when we did
  bool timed_out = false;  // ... because call_deadline passed
  req.response_handler = [&](const httplib::Response& res) {
    status = res.status;
    const std::string length = res.get_header_value("Content-Length");
    if (!length.empty() && length.size() <= 20 &&
        std::strtoull(length.c_str(), nullptr, 10) > kMaxResponseBytes) {
      stop = "sent a response over 16 MiB";
      return false;
    }
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    if (Clock::now() >= call_deadline) {
      timed_out = true;
      return false;
    }
    const bool ok = status >= 200 && status < 300;
    if (answer.size() + n > (ok ? kMaxResponseBytes : kMaxErrorBody)) {
      if (!ok) return true;  // keep the start of an error body only
      stop = "sent a response over 16 MiB";
      return false;
    }
    answer.append(data, n);
    return true;
  };

  std::unique_ptr<httplib::Client> client;
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  bool sent = false;
  try {
    client = ep.Take();
    const auto us = [](double s) { return std::chrono::microseconds(static_cast<int64_t>(s * 1e6)); };
    client->set_connection_timeout(us(std::min(config_.connect_timeout_seconds, limit)));
    client->set_read_timeout(us(limit));
    client->set_write_timeout(us(limit));
    sent = client->send(req, res, err);
  } catch (const std::exception&) {
    err = httplib::Error::Unknown;
  }
  if (!sent) {
    a.code = StatusCode::kUnavailable;
    a.fall_back = true;
    const double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    switch (err) {
      case httplib::Error::Canceled:
        if (timed_out) return timeout("no complete answer");
        a.reason = stop.empty() ? "the request was cancelled" : stop;
        a.code = StatusCode::kInternal;
        return a;
      case httplib::Error::Connection:
        a.reason = "cannot connect";
        return a;
      case httplib::Error::ConnectionTimeout:
        if (capped && elapsed >= 0.9 * limit) return timeout("no connection");
        a.reason = "no connection within " + Seconds(config_.connect_timeout_seconds);
        return a;
      case httplib::Error::SSLConnection:
        a.reason = "the TLS handshake failed (is it an https server?)";
        return a;
      case httplib::Error::SSLLoadingCerts:
        a.reason = "cannot load the CA bundle " +
                   (ep.config.ca_file.empty() ? std::string("of the system") : ep.config.ca_file);
        return a;
      case httplib::Error::SSLServerVerification: {
        const long v = client ? client->get_openssl_verify_result() : X509_V_OK;
        a.reason = v == X509_V_OK
                       ? std::string("its TLS certificate does not name this host")
                       : std::string("its TLS certificate is not trusted (") +
                             X509_verify_cert_error_string(v) + ")";
        a.reason += "; set ca=FILE (ca_file) to the CA that signed it";
        return a;
      }
      case httplib::Error::Read:
        if (elapsed >= 0.9 * limit) return timeout("no answer");
        a.reason = "the connection closed before a complete answer";
        return a;
      case httplib::Error::Write:
        a.reason = "the connection failed while sending";
        return a;
      default:
        a.reason = "the request failed: " + httplib::to_string(err);
        return a;
    }
  }
  if (client->is_valid()) ep.GiveBack(std::move(client));
  if (status < 200 || status >= 300) {
    const std::string m = RemoteMessage(answer);
    a.reason = "answered HTTP " + std::to_string(status) + (m.empty() ? "" : ": " + m);
    switch (status) {
      case 400: a.code = StatusCode::kInvalidArgument; break;
      case 401:
      case 403:
        a.code = status == 401 ? StatusCode::kUnauthenticated : StatusCode::kPermissionDenied;
        a.reason += ep.key.empty() ? "; no API key is configured for it (key-file= or key-env=)"
                                   : "; check the API key configured for it";
        break;
      case 404: a.code = StatusCode::kNotFound; break;
      case 413: a.code = StatusCode::kTooLarge; break;
      case 429:
        a.code = StatusCode::kResourceExhausted;
        a.fall_back = true;
        break;
      default:
        a.fall_back = status >= 500 || status == 408;
        a.code = a.fall_back ? StatusCode::kUnavailable : StatusCode::kFailedPrecondition;
    }
    return a;
  }
  auto hits = ParseSearchResponse(answer, top_k);
  if (!hits.ok()) {
    a.code = StatusCode::kInternal;
    a.fall_back = true;
    a.reason = "sent a malformed response: " + hits.status().message();
    return a;
  }
  a.hits = std::move(hits).value();
  return a;
}

Result<RemoteSearchResult> RemoteKb::Search(const kb::SearchRequest& req,
                                            Clock::time_point deadline) {
  const std::string who = "knowledge base '" + config_.name + "'";
  RETURN_IF_ERROR(kb::ValidateCollectionName(req.collection).WithContext(who));
  ASSIGN_OR_RETURN(const std::string body, RequestBody(req));
  const std::string collection = EncodeSegment(req.collection);
  auto at = [&](const Endpoint& ep) { return who + " at " + ep.target.display; };
  if (Clock::now() >= deadline) {
    return Status(StatusCode::kDeadlineExceeded,
                  who + ": the deadline passed before the search was sent");
  }

  Attempt p = Ask(*primary_, collection, body, req.top_k, deadline);
  RemoteSearchResult out;
  if (p.code == StatusCode::kOk) {
    out.hits = std::move(p.hits);
    return out;
  }
  if (!p.fall_back) return Status(p.code, at(*primary_) + ": " + p.reason);
  if (!replica_) {
    return Status(p.code, at(*primary_) + ": " + p.reason + "; no replica is configured");
  }
  if (Clock::now() >= deadline) {
    return Status(StatusCode::kDeadlineExceeded, at(*primary_) + ": " + p.reason +
                                                     "; the deadline passed before its replica "
                                                     "could be asked");
  }
  Attempt r = Ask(*replica_, collection, body, req.top_k, deadline);
  if (r.code != StatusCode::kOk) {
    return UnavailableError(who + " is unreachable: primary " + primary_->target.display + ": " +
                            p.reason + "; replica " + replica_->target.display + ": " + r.reason);
  }
  out.hits = std::move(r.hits);
  out.used_replica = true;
  out.note = who + " unreachable (" + p.reason + "); answered from its replica " +
             replica_->target.display;
  spdlog::warn("{}", out.note);
  return out;
}

}  // namespace deepkb::gateway
