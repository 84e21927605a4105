// A real KbServer on a free loopback port, in this process (so tests can read srv.routes()), with
// a fresh data directory. Spoken to over real HTTP with cpp-httplib's client or raw sockets.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <gtest/gtest.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "auth/api_keys.h"
#include "common/hash.h"
#include "kb/kb.h"
#include "server/kb_server.h"

namespace deepkb::testing {

class InProcessServer {
 public:
  // Builds extra routes (e.g. the gateway's) once the KB and keys exist; whatever the routes
  // need is stored in *keep_alive, which is released after the server stops.
  using RoutesFactory = std::function<std::vector<server::Route>(
      kb::KnowledgeBase&, auth::ApiKeys&, std::shared_ptr<void>* keep_alive)>;

  explicit InProcessServer(RoutesFactory extra = nullptr) {
    dir_ = std::filesystem::temp_directory_path() / ("inproc_srv_" + RandomHex(6));
    std::filesystem::create_directories(dir_);
    auto kb = kb::KnowledgeBase::Open(dir_.string(), {});
    if (!kb.ok()) ADD_FAILURE() << kb.status().ToString();
    kb_ = std::move(kb).value();
    auto keys = auth::ApiKeys::Open((dir_ / "kb.db").string());
    if (!keys.ok()) ADD_FAILURE() << keys.status().ToString();
    keys_ = std::move(keys).value();
    server::ServerOptions opts;
    opts.host = "127.0.0.1";
    opts.port = 0;
    opts.rate_limit = 0;  // the matrix sends hundreds of requests per key
    std::vector<server::Route> routes;
    if (extra) routes = extra(*kb_, *keys_, &keep_alive_);
    srv_ = std::make_unique<server::KbServer>(*kb_, *keys_, opts, std::move(routes));
    auto port = srv_->Bind();
    if (!port.ok()) ADD_FAILURE() << port.status().ToString();
    port_ = *port;
    thread_ = std::thread([this] { (void)srv_->Serve(); });
  }
  ~InProcessServer() {
    srv_->Stop();
    thread_.join();
    srv_.reset();
    keep_alive_.reset();
    keys_.reset();
    kb_.reset();
    std::filesystem::remove_all(dir_);
  }

  httplib::Client Client(const std::string& key = "") const {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(10, 0);
    if (!key.empty()) c.set_bearer_token_auth(key.c_str());
    return c;
  }

  // Sends `raw` bytes as they are and returns the server's answer: one complete response
  // (headers plus Content-Length bytes), or whatever came before the server closed or
  // `timeout_s` passed. For requests cpp-httplib's client refuses to build (CR/LF in headers...).
  // (No half-close: cpp-httplib drops a request whose client already shut down its side.)
  std::string Raw(const std::string& raw, int timeout_s = 2) const {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port_));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    timeval tv{timeout_s, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    std::string out;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
      size_t sent = 0;
      while (sent < raw.size()) {
        const ssize_t n = ::send(fd, raw.data() + sent, raw.size() - sent, MSG_NOSIGNAL);
        if (n <= 0) break;
        sent += static_cast<size_t>(n);
      }
      char buf[4096];
      ssize_t n;
      while ((n = ::recv(fd, buf, sizeof buf, 0)) > 0) {
        out.append(buf, static_cast<size_t>(n));
        const size_t end = out.find("\r\n\r\n");
        if (end == std::string::npos) continue;
        size_t length = 0;
        const size_t cl = out.find("Content-Length: ");
        if (cl != std::string::npos && cl < end) length = std::stoul(out.substr(cl + 16));
        if (out.size() >= end + 4 + length) break;  // one whole response
      }
    }
    ::close(fd);
    return out;
  }

  kb::KnowledgeBase& kb() { return *kb_; }
  auth::ApiKeys& keys() { return *keys_; }
  server::KbServer& server() { return *srv_; }
  int port() const { return port_; }

 private:
  std::filesystem::path dir_;
  std::unique_ptr<kb::KnowledgeBase> kb_;
  std::unique_ptr<auth::ApiKeys> keys_;
  std::shared_ptr<void> keep_alive_;
  std::unique_ptr<server::KbServer> srv_;
  std::thread thread_;
  int port_ = 0;
};

// True when `body` is the contract's error shape with a non-empty message.
inline bool IsErrorShape(const std::string& body) {
  auto j = nlohmann::json::parse(body, nullptr, false);
  return j.is_object() && j.contains("error") && j["error"].is_object() &&
         j["error"].contains("code") && j["error"]["code"].is_string() &&
         j["error"].contains("type") && j["error"]["type"].is_string() &&
         j["error"].contains("message") && j["error"]["message"].is_string() &&
         !j["error"]["message"].get<std::string>().empty();
}

}  // namespace deepkb::testing
