// deepkb_load: a small HTTP load generator for `deepkb serve` search (bench/server/README.md).
//
// Open loop: requests are scheduled at a fixed rate (--rate per second) whatever the server
// does, and each latency is measured from its scheduled start, so queueing (in the client or the
// server) shows up in the numbers instead of silently lowering the offered load ("coordinated
// omission"). --rate 0 is closed loop: each of --connections workers sends back to back (used
// to measure capacity). Each worker owns one keep-alive connection.
//
// Prints one JSON object: offered rate, achieved throughput (all responses and 200s), latency
// P50/P90/P99/max of 200s and of refusals (429/503) from the scheduled start, the same from
// the moment the request was sent ("service", the server's part), the status mix, transport errors, and the
// server's RSS before and after (from /proc/PID/status when --pid is given).
#include <httplib.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

struct Options {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string key;
  std::string collection = "bench";
  double rate = 100;   // requests/s; 0 = closed loop
  double duration = 10;
  int connections = 64;
  int pid = 0;
  std::string mode = "keyword";
};

long RssKb(int pid) {
  if (pid <= 0) return -1;
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) return std::atol(line.c_str() + 6);
  }
  return -1;
}

double Pct(std::vector<double>& v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t i = std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())));
  return v[i];
}

const char* kWords[] = {"backup", "restore", "replica", "index", "keys", "rotate", "compaction",
                        "snapshot", "cluster", "latency", "search", "document", "chunk", "vector",
                        "token", "upstream", "gateway", "metrics", "audit", "policy"};

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--host") o.host = v;
    else if (a == "--port") o.port = std::atoi(v.c_str());
    else if (a == "--key") o.key = v;
    else if (a == "--collection") o.collection = v;
    else if (a == "--rate") o.rate = std::atof(v.c_str());
    else if (a == "--duration") o.duration = std::atof(v.c_str());
    else if (a == "--connections") o.connections = std::atoi(v.c_str());
    else if (a == "--pid") o.pid = std::atoi(v.c_str());
    else if (a == "--mode") o.mode = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (o.key.empty()) {
    std::fprintf(stderr,
                 "usage: deepkb_load --port P --key KEY [--collection C] [--rate R|0] "
                 "[--duration S] [--connections N] [--pid SERVER_PID] [--mode keyword]\n");
    return 2;
  }
  const long rss_before = RssKb(o.pid);
  const std::string path = "/v1/collections/" + o.collection + "/search";
  const auto start = Clock::now() + std::chrono::milliseconds(50);
  const auto end = start + std::chrono::duration_cast<Clock::duration>(
                               std::chrono::duration<double>(o.duration));
  std::atomic<uint64_t> next{0};
  std::mutex mu;
  std::vector<double> ok_lat, refused_lat, other_lat, ok_svc, refused_svc;
  std::map<std::string, uint64_t> statuses;
  uint64_t late_starts = 0;

  auto worker = [&](int id) {
    httplib::Client c(o.host, o.port);
    c.set_keep_alive(true);
    c.set_tcp_nodelay(true);  // else Nagle + delayed ACK add 40 ms to every POST
    c.set_bearer_token_auth(o.key.c_str());
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(30, 0);
    std::vector<double> ok, refused, other, ok_s, refused_s;
    std::map<std::string, uint64_t> st;
    uint64_t late = 0;
    uint64_t local = 0;
    for (;;) {
      Clock::time_point scheduled;
      if (o.rate > 0) {
        const uint64_t n = next.fetch_add(1);
        scheduled = start + std::chrono::duration_cast<Clock::duration>(
                                std::chrono::duration<double>(static_cast<double>(n) / o.rate));
        if (scheduled >= end) break;
        const auto now = Clock::now();
        if (scheduled > now) {
          std::this_thread::sleep_until(scheduled);
        } else if (now - scheduled > std::chrono::milliseconds(10)) {
          ++late;  // every connection was busy: the client itself is queueing
        }
      } else {
        scheduled = Clock::now();
        if (scheduled < start) std::this_thread::sleep_until(start), scheduled = Clock::now();
        if (scheduled >= end) break;
      }
      const std::string q = std::string(kWords[(local * 7 + static_cast<uint64_t>(id)) % 20]) +
                            " " + kWords[(local * 13 + 3) % 20];
      ++local;
      const auto sent = Clock::now();
      auto r = c.Post(path, json{{"query", q}, {"mode", o.mode}, {"top_k", 10}}.dump(),
                      "application/json");
      const auto done = Clock::now();
      const double ms = std::chrono::duration<double, std::milli>(done - scheduled).count();
      const double svc = std::chrono::duration<double, std::milli>(done - sent).count();
      if (!r) {
        ++st["error:" + httplib::to_string(r.error())];
        other.push_back(ms);
        continue;
      }
      ++st[std::to_string(r->status)];
      if (r->status == 200) {
        ok.push_back(ms);
        ok_s.push_back(svc);
      } else if (r->status == 429 || r->status == 503) {
        refused.push_back(ms);
        refused_s.push_back(svc);
      } else {
        other.push_back(ms);
      }
    }
    std::lock_guard<std::mutex> lock(mu);
    ok_lat.insert(ok_lat.end(), ok.begin(), ok.end());
    refused_lat.insert(refused_lat.end(), refused.begin(), refused.end());
    other_lat.insert(other_lat.end(), other.begin(), other.end());
    ok_svc.insert(ok_svc.end(), ok_s.begin(), ok_s.end());
    refused_svc.insert(refused_svc.end(), refused_s.begin(), refused_s.end());
    for (const auto& [k, v] : st) statuses[k] += v;
    late_starts += late;
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < std::max(1, o.connections); ++i) ts.emplace_back(worker, i);
  for (auto& t : ts) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();
  const size_t total = ok_lat.size() + refused_lat.size() + other_lat.size();
  json out{{"offered_rps", o.rate},
           {"connections", o.connections},
           {"seconds", secs},
           {"responses", total},
           {"throughput_rps", static_cast<double>(total) / secs},
           {"ok_rps", static_cast<double>(ok_lat.size()) / secs},
           {"ok_p50_ms", Pct(ok_lat, 0.50)},
           {"ok_p90_ms", Pct(ok_lat, 0.90)},
           {"ok_p99_ms", Pct(ok_lat, 0.99)},
           {"ok_max_ms", ok_lat.empty() ? 0.0 : ok_lat.back()},
           {"ok_service_p50_ms", Pct(ok_svc, 0.50)},
           {"ok_service_p99_ms", Pct(ok_svc, 0.99)},
           {"refused_service_p50_ms", Pct(refused_svc, 0.50)},
           {"refused_service_p99_ms", Pct(refused_svc, 0.99)},
           {"refused_p50_ms", Pct(refused_lat, 0.50)},
           {"refused_p99_ms", Pct(refused_lat, 0.99)},
           {"statuses", statuses},
           {"late_starts", late_starts},
           {"server_rss_kb_before", rss_before},
           {"server_rss_kb_after", RssKb(o.pid)}};
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
