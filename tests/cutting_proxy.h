// A loopback TCP proxy that cuts connections after a byte budget of answers: a peer that drops
// mid-response. Shared by the sync tests (sync_test.cc, sync_property_test.cc).
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace deepkb::testing {

// A loopback TCP proxy to `port` that lets `budget` bytes of answers through (all connections
// together) and then cuts every connection: a peer that drops mid-response.
class CuttingProxy {
 public:
  // `budget` = SIZE_MAX: a plain counting proxy (bench/sync measures bytes on the wire with it).
  CuttingProxy(int port, size_t budget) : upstream_(port), budget_(budget) {
    listen_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(listen_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    ::listen(listen_, 8);
    socklen_t len = sizeof a;
    ::getsockname(listen_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    accept_ = std::thread([this] {
      while (true) {
        const int c = ::accept(listen_, nullptr, nullptr);
        if (c < 0) return;
        const int u = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in ua{};
        ua.sin_family = AF_INET;
        ua.sin_port = htons(static_cast<uint16_t>(upstream_));
        ua.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        (void)::connect(u, reinterpret_cast<sockaddr*>(&ua), sizeof ua);
        const int one = 1;  // forward small writes at once (no 40 ms delayed-ACK stalls)
        ::setsockopt(c, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        ::setsockopt(u, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        pumps_.emplace_back([this, c, u] { Pump(c, u, nullptr, &up_); });
        pumps_.emplace_back([this, c, u] { Pump(u, c, &budget_, &down_); });
      }
    });
  }
  ~CuttingProxy() {
    ::shutdown(listen_, SHUT_RDWR);
    ::close(listen_);
    accept_.join();
    for (auto& t : pumps_) t.join();
  }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Bytes forwarded so far: requests (client → server) and answers, headers included.
  size_t bytes_up() const { return up_.load(); }
  size_t bytes_down() const { return down_.load(); }

 private:
  static void Pump(int from, int to, std::atomic<size_t>* budget, std::atomic<size_t>* count) {
    char buf[4096];
    ssize_t n;
    while ((n = ::recv(from, buf, sizeof buf, 0)) > 0) {
      size_t send_n = static_cast<size_t>(n);
      bool cut = false;
      if (budget) {
        const size_t left = budget->load();
        if (send_n >= left) {
          send_n = left;
          cut = true;
        }
        *budget -= send_n;
      }
      if (send_n > 0 && ::send(to, buf, send_n, MSG_NOSIGNAL) <= 0) break;
      *count += send_n;
      if (cut) break;
    }
    ::shutdown(from, SHUT_RDWR);
    ::shutdown(to, SHUT_RDWR);
  }
  int upstream_, listen_ = -1, port_ = 0;
  std::atomic<size_t> budget_, up_{0}, down_{0};
  std::thread accept_;
  std::vector<std::thread> pumps_;
};

}  // namespace deepkb::testing
