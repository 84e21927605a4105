// `deepkb doctor`: the diagnosis flow for a failing retrieval (docs/doctor.md). One line per
// check, `OK|WARN|FAIL  <check>: <finding> — <fix>`, or --json; exit code from
// server/doctor.h ExitCodeFor (6 corruption > 1 other failure > 5 only reachability > 0).
//
// Node checks (data dir, disk, key files, index integrity) run here on --data-dir, or on the
// server through GET /v1/admin/doctor with --server (a server holds its directory exclusively).
// Network checks run here, against what `deepkb serve` would use: the same gateway flags
// (--upstream, --remote-kb; or the --config file): each upstream's GET {base}/v1/models, each
// remote KB's and replica's /healthz then an authenticated GET /v1/collections, TLS version and
// certificate expiry for https, and clock skew from each answer's Date header.
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <httplib.h>
#include <nlohmann/json.hpp>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>

#include "cli/app.h"
#include "cli/gateway_flags.h"
#include "common/log.h"
#include "server/doctor.h"

namespace deepkb::cli {

using server::doctor::Finding;
using server::doctor::Kind;
using server::doctor::Level;
using nlohmann::json;

Result<HttpAnswer> CallServer(const std::string& server, const std::string& api_key,
                              const std::string& method, const std::string& path,
                              const std::string& body, double timeout_s) {
  std::string url = server;
  while (!url.empty() && url.back() == '/') url.pop_back();
  const size_t scheme = url.find("://");
  if (scheme == std::string::npos || url.find('/', scheme + 3) != std::string::npos) {
    return InvalidArgumentError("--server must be a URL like http://127.0.0.1:8080 (no path)");
  }
  httplib::Client c(url);
  if (!c.is_valid()) return InvalidArgumentError("cannot use server URL '" + url + "'");
  if (!api_key.empty()) c.set_bearer_token_auth(api_key.c_str());
  const auto whole = static_cast<time_t>(timeout_s);
  const auto usec = static_cast<time_t>((timeout_s - static_cast<double>(whole)) * 1e6);
  c.set_connection_timeout(whole, usec);
  c.set_read_timeout(whole, usec);
  httplib::Result res = method == "POST" ? c.Post(path.c_str(), body, "application/json")
                                         : c.Get(path.c_str());
  if (!res) {
    return UnavailableError("cannot reach " + url + ": " + httplib::to_string(res.error()));
  }
  return HttpAnswer{res->status, res->body, res->get_header_value("Date")};
}

namespace {

// Seconds between an HTTP Date header ("Sun, 06 Nov 1994 08:49:37 GMT") and now; nullopt when
// the header is missing or malformed.
std::optional<double> SkewSeconds(const std::string& date) {
  std::tm tm{};
  if (date.empty() || !strptime(date.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm)) {
    return std::nullopt;
  }
  return std::difftime(timegm(&tm), std::time(nullptr));
}

Finding SkewFinding(const std::string& target, const std::string& date) {
  const std::string check = "clock_skew " + target;
  auto skew = SkewSeconds(date);
  if (!skew) return {check, Level::kWarn, "no usable Date header in its answer", "", Kind::kOther};
  char d[64];
  std::snprintf(d, sizeof d, "%+.0f s against this machine", *skew);
  const double a = std::fabs(*skew);
  if (a <= 5) return {check, Level::kOk, d, "", Kind::kOther};
  const std::string fix = "synchronise both clocks with NTP (chronyc tracking / timedatectl)";
  return {check, a > 60 ? Level::kFail : Level::kWarn, d, fix, Kind::kOther};
}

struct Url {
  std::string origin;  // scheme://host[:port]
  std::string path;    // prefix without trailing '/'
  std::string host;
  int port = 0;
  bool https = false;
};

Result<Url> SplitUrl(const std::string& s) {
  Url u;
  const size_t scheme = s.find("://");
  if (scheme == std::string::npos) return InvalidArgumentError("'" + s + "' is not a URL");
  u.https = s.compare(0, scheme, "https") == 0;
  const size_t slash = s.find('/', scheme + 3);
  u.origin = s.substr(0, slash);
  u.path = slash == std::string::npos ? "" : s.substr(slash);
  while (!u.path.empty() && u.path.back() == '/') u.path.pop_back();
  const std::string hostport = u.origin.substr(scheme + 3);
  const size_t colon = hostport.rfind(':');
  u.host = colon == std::string::npos ? hostport : hostport.substr(0, colon);
  u.port = colon == std::string::npos ? (u.https ? 443 : 80) : std::atoi(hostport.c_str() + colon + 1);
  return u;
}

// TLS version and days until the certificate expires, by a handshake of our own (httplib does
// not expose them). Certificate verification is the clients' business; this reports facts.
Finding TlsFinding(const std::string& target, const Url& u) {
  const std::string check = "tls " + target;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  BIO* bio = BIO_new_ssl_connect(ctx);
  SSL* ssl = nullptr;
  BIO_get_ssl(bio, &ssl);
  const std::string hp = u.host + ":" + std::to_string(u.port);
  BIO_set_conn_hostname(bio, hp.c_str());
  SSL_set_tlsext_host_name(ssl, u.host.c_str());
  Finding f{check, Level::kOk, "", "", Kind::kReachability};
  if (BIO_do_handshake(bio) <= 0) {
    f = {check, Level::kFail, "TLS handshake with " + hp + " failed",
         "check the URL's port and that the server speaks TLS 1.2 or 1.3", Kind::kReachability};
  } else {
    f.detail = SSL_get_version(ssl);
    X509* cert = SSL_get1_peer_certificate(ssl);
    int days = 0, secs = 0;
    if (cert && ASN1_TIME_diff(&days, &secs, nullptr, X509_get0_notAfter(cert))) {
      f.detail += ", certificate expires in " + std::to_string(days) + " days";
      if (days < 0) {
        f = {check, Level::kFail, f.detail, "renew the certificate", Kind::kOther};
      } else if (days < 14) {
        f = {check, Level::kWarn, f.detail, "renew the certificate soon", Kind::kOther};
      }
    }
    X509_free(cert);
  }
  BIO_free_all(bio);
  SSL_CTX_free(ctx);
  return f;
}

std::string ReadKey(const std::string& file, const std::string& env) {
  std::string key;
  if (!file.empty()) {
    std::ifstream in(file);
    std::getline(in, key);
  } else if (!env.empty()) {
    const char* v = std::getenv(env.c_str());
    key = v ? v : "";
  }
  while (!key.empty() && std::isspace(static_cast<unsigned char>(key.back()))) key.pop_back();
  return key;
}

// One GET against `target`; appends reachability (and TLS, clock skew) findings.
void Probe(const std::string& target, const std::string& url, const std::string& path,
           const std::string& key, double timeout_s, std::vector<Finding>& out) {
  auto u = SplitUrl(url);
  if (!u.ok()) {
    out.push_back({target, Level::kFail, u.status().message(), "fix the flag", Kind::kOther});
    return;
  }
  auto r = CallServer(u->origin, key, "GET", u->path + path, "", timeout_s);
  if (!r.ok()) {
    out.push_back({target, Level::kFail, r.status().message(),
                   "check that it runs and that this machine can reach " + u->origin +
                       " (firewall, DNS, port)",
                   Kind::kReachability});
    return;
  }
  const std::string seen = "GET " + u->path + path + " → HTTP " + std::to_string(r->status);
  if (r->status == 401 || r->status == 403) {
    out.push_back({target, Level::kFail, seen + ": the key was refused",
                   "check its key-file/key-env and the key's role", Kind::kOther});
  } else if (r->status < 200 || r->status >= 300) {
    out.push_back({target, Level::kFail, seen, "see that server's log", Kind::kOther});
  } else {
    out.push_back({target, Level::kOk, seen, "", Kind::kOther});
  }
  if (u->https) out.push_back(TlsFinding(target, *u));
  out.push_back(SkewFinding(target, r->date));
}

std::string StripV1(std::string base) {
  while (!base.empty() && base.back() == '/') base.pop_back();
  if (base.size() >= 3 && base.compare(base.size() - 3, 3, "/v1") == 0) base.resize(base.size() - 3);
  return base;
}

// Issue 6 (sync peers) extends the network checks here: each peer gets Probe(...) on its
// /healthz plus SkewFinding, like a remote KB.
void PeerFindings(std::vector<Finding>& /*out*/) {}

struct DoctorFlags {
  std::string server, api_key;
  bool json = false;
  double refuse_at = 0.95;
  double timeout_s = 3;
  GatewayFlags gateway;
};

std::vector<Finding> NodeFindingsHere(const GlobalOptions& g, const DoctorFlags& f) {
  std::vector<Finding> out;
  if (!f.server.empty()) {
    auto r = CallServer(f.server, f.api_key, "GET", "/v1/admin/doctor", "", 120);
    if (!r.ok() || r->status != 200) {
      Status s = r.ok() ? StatusFromHttpResponse(r->status, r->body) : r.status();
      out.push_back({"server", Level::kFail, s.message(),
                     r.ok() ? "pass an admin key with --api-key (env DEEPKB_API_KEY)"
                            : "check --server and that `deepkb serve` runs there",
                     r.ok() ? Kind::kOther : Kind::kReachability});
      return out;
    }
    auto j = json::parse(r->body, nullptr, false);
    if (j.is_object() && j.contains("checks") && j["checks"].is_array()) {
      for (const auto& c : j["checks"]) {
        if (auto one = server::doctor::FromJson(c); one.ok()) out.push_back(*one);
      }
    }
    return out;
  }
  server::DiskGuard guard(g.data_dir, f.refuse_at);
  auto db = OpenDataDir(g);
  if (db.ok()) return server::doctor::NodeFindings(*db->kb, guard);
  out.push_back(server::doctor::DataDirFinding(g.data_dir));
  if (out.back().level != Level::kOk) return out;
  out.push_back(server::doctor::DiskFinding(guard));
  const Status& s = db.status();
  if (s.code() == StatusCode::kDataLoss) {
    out.push_back({"index_integrity", Level::kFail, s.message(),
                   "restore from a backup", Kind::kCorruption});
  } else {
    out.push_back({"index_integrity", Level::kWarn, "cannot open the data directory: " + s.message(),
                   "when a server holds it, run `deepkb doctor --server URL --api-key KEY`",
                   Kind::kOther});
  }
  return out;
}

int RunDoctor(const GlobalOptions& g, const DoctorFlags& f) {
  auto cfg = GatewayConfigFrom(f.gateway);
  if (!cfg.ok()) return Fail(cfg.status());
  std::vector<Finding> out = NodeFindingsHere(g, f);
  if (!g.key_file.empty()) out.push_back(server::doctor::SecretFileFinding("key_file", g.key_file));
  for (const auto& up : cfg->upstreams) {
    const auto& c = up.config;
    Probe("upstream " + c.name, StripV1(c.base_url), "/v1/models",
          ReadKey(c.api_key_file, c.api_key_env), f.timeout_s, out);
  }
  for (const auto& kb : cfg->remote_kbs) {
    const auto probe = [&](const std::string& label, const gateway::KbEndpoint& e) {
      const size_t before = out.size();
      Probe(label, StripV1(e.url), "/healthz", "", f.timeout_s, out);
      if (out[before].level == Level::kOk) {
        Probe(label + " (authenticated)", StripV1(e.url), "/v1/collections",
              ReadKey(e.api_key_file, e.api_key_env), f.timeout_s, out);
      }
    };
    probe("remote_kb " + kb.name, kb.primary);
    if (kb.replica) probe("remote_kb " + kb.name + " replica", *kb.replica);
  }
  PeerFindings(out);
  out.push_back({"log", Level::kWarn,
                 "no log file configured: `deepkb serve` logs to stderr",
                 "read recent errors with `journalctl -u deepkb -p err` or `docker logs`",
                 Kind::kOther});
  if (f.json) {
    json arr = json::array();
    for (const auto& x : out) arr.push_back(server::doctor::ToJson(x));
    std::cout << arr.dump(2, ' ', false, json::error_handler_t::replace) << "\n";
  } else {
    for (const auto& x : out) std::printf("%s\n", server::doctor::FormatLine(x).c_str());
  }
  return server::doctor::ExitCodeFor(out);
}

}  // namespace

void RegisterDoctorCommand(CLI::App& app, GlobalOptions& g, int* exit_code) {
  auto* cmd = app.add_subcommand(
      "doctor",
      "diagnose a node: data dir, disk, key file modes, index integrity, upstream and remote KB "
      "reachability (TLS, clock skew). Exit 0 ok, 1 failure, 5 only reachability failed, 6 "
      "data corruption");
  auto f = std::make_shared<DoctorFlags>();
  if (const char* env = std::getenv("DEEPKB_API_KEY"); env) f->api_key = env;
  cmd->add_option("--server", f->server, "ask this server for its node checks (admin key)");
  cmd->add_option("--api-key", f->api_key, "admin API key for --server (env DEEPKB_API_KEY)");
  cmd->add_flag("--json", f->json, "print a JSON array of {check, status, detail, fix}");
  cmd->add_option("--disk-refuse-writes-at", f->refuse_at,
                  "the server's write threshold (FAIL at or above it; WARN from 85%)")
      ->check(CLI::Range(0.000001, 1.0))
      ->capture_default_str();
  cmd->add_option("--timeout", f->timeout_s, "seconds per network probe")
      ->check(CLI::Range(0.1, 60.0))
      ->capture_default_str();
  AddGatewayFlags(cmd, f->gateway);
  cmd->callback([&g, exit_code, f] {
    if (Status s = InitLogging(g.log_format, g.log_level); !s.ok()) { *exit_code = Fail(s); return; }
    *exit_code = RunDoctor(g, *f);
  });
}

}  // namespace deepkb::cli
