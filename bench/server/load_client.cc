// deepkb_load: a small HTTP load generator for `deepkb serve` (bench/server/README.md,
// bench/gateway/README.md).
//
// Open loop: requests are scheduled at a fixed rate (--rate per second) whatever the server
// does, and each latency is measured from its scheduled start, so queueing (in the client or the
// server) shows up in the numbers instead of silently lowering the offered load ("coordinated
// omission"). --rate 0 is closed loop: each of --connections workers sends back to back (used
// to measure capacity or latency at a fixed concurrency). Each worker owns one keep-alive
// connection.
//
// What is sent: by default a keyword search POSTed to /v1/collections/C/search (a rotating
// two-word query). With --path P --body-file F the same JSON body F is POSTed to P every time
// (e.g. a chat completion; a streamed answer is read to its last byte). --expect S counts a 200
// whose body lacks S as "200-unexpected" instead of a success (e.g. "[DONE]" for SSE).
// --requests N ends a closed loop after N measured requests instead of after --duration;
// --warmup N sends N unmeasured requests (spread over the connections) first.
//
// Prints one JSON object: offered rate, achieved throughput (all responses and 200s), latency
// P50/P90/P99/max of 200s and of refusals (429/503) from the scheduled start, the same from
// the moment the request was sent ("service", the server's part), the status mix, refusals
// without a Retry-After header, transport errors, the client's own CPU time, and the server's
// RSS before and after (from /proc/PID/status when --pid is given; --pid A,B,... also reports
// the CPU time each of those processes used during the measured phase). --timeline 1 adds
// "per_second": for each second of the run (by completion time), the count of 200s, 429s, 503s
// and others, and the P50/max latency of the 200s. --samples-out F writes the service time (ms)
// of every 200 to F, one a line, so that runs can be pooled.
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <latch>
#include <map>
#include <mutex>
#include <sstream>
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
  std::vector<int> pids;  // the first: RSS; all: CPU time
  std::string mode = "keyword";
  std::string path;       // "" = the search route of --collection
  std::string body;       // with --path: the fixed request body
  std::string expect;     // a 200 must contain this to count as ok
  uint64_t requests = 0;  // closed loop: measured requests in all; 0 = use --duration
  uint64_t warmup = 0;
  bool timeline = false;
  std::string samples_out;
};

// One response (or transport error) of the measured phase.
struct Sample {
  enum Kind { kOk, kRefused, kOther } kind;
  int status;          // HTTP status; 0 = transport error
  double done_s;       // completion, seconds after the start of the measured phase
  double latency_ms;   // from the scheduled start
  double service_ms;   // from the moment the request was sent
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

// utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15); -1 if unreadable.
double CpuSeconds(int pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat;
  if (!std::getline(in, stat)) return -1;
  const size_t paren = stat.rfind(')');  // the command name may contain spaces
  if (paren == std::string::npos) return -1;
  std::istringstream fields(stat.substr(paren + 2));
  std::string f;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> f; ++i) {
    if (i >= 14) ticks += std::atof(f.c_str());
  }
  return ticks / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

double ClientCpuSeconds() {
  rusage u{};
  ::getrusage(RUSAGE_SELF, &u);
  return static_cast<double>(u.ru_utime.tv_sec + u.ru_stime.tv_sec) +
         static_cast<double>(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6;
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

bool ReadFile(const std::string& path, std::string& out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  out = ss.str();
  return true;
}

std::vector<int> ParsePids(const std::string& v) {
  std::vector<int> out;
  std::istringstream in(v);
  std::string p;
  while (std::getline(in, p, ',')) out.push_back(std::atoi(p.c_str()));
  return out;
}

json PerSecond(const std::vector<Sample>& all) {
  std::map<long, std::vector<const Sample*>> by_second;
  for (const Sample& s : all) by_second[static_cast<long>(s.done_s)].push_back(&s);
  json out = json::array();
  for (const auto& [sec, samples] : by_second) {
    std::vector<double> ok;
    std::map<std::string, uint64_t> counts;
    for (const Sample* s : samples) {
      if (s->kind == Sample::kOk) ok.push_back(s->latency_ms);
      ++counts[s->kind == Sample::kOk            ? "ok"
               : s->status == 429                ? "429"
               : s->status == 503                ? "503"
                                                 : "other"];
    }
    const double ok_max = ok.empty() ? 0.0 : *std::max_element(ok.begin(), ok.end());
    out.push_back({{"t", sec}, {"ok", counts["ok"]}, {"r429", counts["429"]},
                   {"r503", counts["503"]}, {"other", counts["other"]},
                   {"ok_p50_ms", Pct(ok, 0.50)}, {"ok_max_ms", ok_max}});
  }
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  std::string body_file;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string a = argv[i], v = argv[i + 1];
    if (a == "--host") o.host = v;
    else if (a == "--port") o.port = std::atoi(v.c_str());
    else if (a == "--key") o.key = v;
    else if (a == "--collection") o.collection = v;
    else if (a == "--rate") o.rate = std::atof(v.c_str());
    else if (a == "--duration") o.duration = std::atof(v.c_str());
    else if (a == "--connections") o.connections = std::atoi(v.c_str());
    else if (a == "--pid") o.pids = ParsePids(v);
    else if (a == "--mode") o.mode = v;
    else if (a == "--path") o.path = v;
    else if (a == "--body-file") body_file = v;
    else if (a == "--expect") o.expect = v;
    else if (a == "--requests") o.requests = std::strtoull(v.c_str(), nullptr, 10);
    else if (a == "--warmup") o.warmup = std::strtoull(v.c_str(), nullptr, 10);
    else if (a == "--timeline") o.timeline = v == "1" || v == "true";
    else if (a == "--samples-out") o.samples_out = v;
    else {
      std::fprintf(stderr, "unknown option %s\n", a.c_str());
      return 2;
    }
  }
  if (o.key.empty() || body_file.empty() != o.path.empty()) {
    std::fprintf(stderr,
                 "usage: deepkb_load --port P --key KEY [--collection C] [--rate R|0] "
                 "[--duration S] [--connections N] [--pid SERVER_PID[,PID...]] [--mode keyword]\n"
                 "                   [--path P --body-file F] [--expect S] [--requests N] "
                 "[--warmup N] [--timeline 1] [--samples-out F]\n");
    return 2;
  }
  if (!body_file.empty() && !ReadFile(body_file, o.body)) {
    std::fprintf(stderr, "cannot read %s\n", body_file.c_str());
    return 2;
  }
  const bool fixed_body = !o.path.empty();
  const std::string path = fixed_body ? o.path : "/v1/collections/" + o.collection + "/search";
  const int conns = std::max(1, o.connections);
  const bool counted = o.rate <= 0 && o.requests > 0;

  // Set by the main thread once every worker has finished its warm-up (the latch orders it).
  Clock::time_point start, end;
  std::latch warmed(conns), go(1);
  std::atomic<uint64_t> next{0};
  std::mutex mu;
  std::vector<Sample> samples;
  std::map<std::string, uint64_t> statuses;
  uint64_t late_starts = 0, no_retry_after = 0;

  auto worker = [&](int id) {
    httplib::Client c(o.host, o.port);
    c.set_keep_alive(true);
    c.set_tcp_nodelay(true);  // else Nagle + delayed ACK add 40 ms to every POST
    c.set_bearer_token_auth(o.key.c_str());
    c.set_connection_timeout(5, 0);
    c.set_read_timeout(30, 0);
    uint64_t local = 0;
    const auto body = [&]() -> std::string {
      if (fixed_body) return o.body;
      const std::string q = std::string(kWords[(local * 7 + static_cast<uint64_t>(id)) % 20]) +
                            " " + kWords[(local * 13 + 3) % 20];
      ++local;
      return json{{"query", q}, {"mode", o.mode}, {"top_k", 10}}.dump();
    };
    const uint64_t my_warmup = o.warmup / static_cast<uint64_t>(conns) +
                               (static_cast<uint64_t>(id) < o.warmup % conns ? 1 : 0);
    for (uint64_t w = 0; w < my_warmup; ++w) c.Post(path, body(), "application/json");
    warmed.count_down();
    go.wait();

    std::vector<Sample> mine;
    std::map<std::string, uint64_t> st;
    uint64_t late = 0, missing_retry_after = 0;
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
        if (counted && next.fetch_add(1) >= o.requests) break;
        scheduled = Clock::now();
        if (scheduled < start) std::this_thread::sleep_until(start), scheduled = Clock::now();
        if (!counted && scheduled >= end) break;
      }
      const std::string b = body();
      const auto sent = Clock::now();
      auto r = c.Post(path, b, "application/json");
      const auto done = Clock::now();
      Sample s{Sample::kOther, 0, std::chrono::duration<double>(done - start).count(),
               std::chrono::duration<double, std::milli>(done - scheduled).count(),
               std::chrono::duration<double, std::milli>(done - sent).count()};
      if (!r) {
        ++st["error:" + httplib::to_string(r.error())];
        mine.push_back(s);
        continue;
      }
      s.status = r->status;
      if (r->status == 200 && !o.expect.empty() && r->body.find(o.expect) == std::string::npos) {
        ++st["200-unexpected"];
        mine.push_back(s);
        continue;
      }
      ++st[std::to_string(r->status)];
      if (r->status == 200) {
        s.kind = Sample::kOk;
      } else if (r->status == 429 || r->status == 503) {
        s.kind = Sample::kRefused;
        if (!r->has_header("Retry-After")) ++missing_retry_after;
      }
      mine.push_back(s);
    }
    std::lock_guard<std::mutex> lock(mu);
    samples.insert(samples.end(), mine.begin(), mine.end());
    for (const auto& [k, v] : st) statuses[k] += v;
    late_starts += late;
    no_retry_after += missing_retry_after;
  };
  std::vector<std::thread> ts;
  for (int i = 0; i < conns; ++i) ts.emplace_back(worker, i);
  warmed.wait();
  const int rss_pid = o.pids.empty() ? 0 : o.pids.front();
  const long rss_before = RssKb(rss_pid);
  std::vector<double> cpu_before;
  for (int pid : o.pids) cpu_before.push_back(CpuSeconds(pid));
  const double client_cpu_before = ClientCpuSeconds();
  start = Clock::now() + std::chrono::milliseconds(50);
  end = start + std::chrono::duration_cast<Clock::duration>(
                    std::chrono::duration<double>(o.duration));
  go.count_down();
  for (auto& t : ts) t.join();
  const double secs = std::chrono::duration<double>(Clock::now() - start).count();

  std::vector<double> ok_lat, refused_lat, ok_svc, refused_svc;
  for (const Sample& s : samples) {
    if (s.kind == Sample::kOk) ok_lat.push_back(s.latency_ms), ok_svc.push_back(s.service_ms);
    if (s.kind == Sample::kRefused) {
      refused_lat.push_back(s.latency_ms);
      refused_svc.push_back(s.service_ms);
    }
  }
  json server_cpu = json::array();
  for (size_t i = 0; i < o.pids.size(); ++i) {
    server_cpu.push_back(CpuSeconds(o.pids[i]) - cpu_before[i]);
  }
  json out{{"offered_rps", o.rate},
           {"connections", o.connections},
           {"path", path},
           {"warmup", o.warmup},
           {"seconds", secs},
           {"responses", samples.size()},
           {"throughput_rps", static_cast<double>(samples.size()) / secs},
           {"ok", ok_lat.size()},
           {"ok_rps", static_cast<double>(ok_lat.size()) / secs},
           {"ok_p50_ms", Pct(ok_lat, 0.50)},
           {"ok_p90_ms", Pct(ok_lat, 0.90)},
           {"ok_p99_ms", Pct(ok_lat, 0.99)},
           {"ok_max_ms", ok_lat.empty() ? 0.0 : ok_lat.back()},
           {"ok_service_p50_ms", Pct(ok_svc, 0.50)},
           {"ok_service_p90_ms", Pct(ok_svc, 0.90)},
           {"ok_service_p99_ms", Pct(ok_svc, 0.99)},
           {"refused", refused_lat.size()},
           {"refused_service_p50_ms", Pct(refused_svc, 0.50)},
           {"refused_service_p99_ms", Pct(refused_svc, 0.99)},
           {"refused_p50_ms", Pct(refused_lat, 0.50)},
           {"refused_p99_ms", Pct(refused_lat, 0.99)},
           {"refused_without_retry_after", no_retry_after},
           {"statuses", statuses},
           {"late_starts", late_starts},
           {"client_cpu_s", ClientCpuSeconds() - client_cpu_before},
           {"server_cpu_s", server_cpu},
           {"server_rss_kb_before", rss_before},
           {"server_rss_kb_after", RssKb(rss_pid)}};
  if (o.timeline) out["per_second"] = PerSecond(samples);
  if (!o.samples_out.empty()) {
    std::ofstream f(o.samples_out);
    for (const Sample& s : samples) {
      if (s.kind == Sample::kOk) f << s.service_ms << '\n';
    }
  }
  std::printf("%s\n", out.dump().c_str());
  return 0;
}
