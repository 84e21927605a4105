// The sync scheduler (scheduler.h).
#include "sync/scheduler.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <random>
#include <sstream>

#include "auth/api_keys.h"
#include "common/utf8.h"

namespace deepkb::sync {

namespace {

// Waits are cut into slices this long so that the lag gauges stay fresh between sessions.
constexpr double kRefreshSeconds = 5;

double NowSeconds() {
  return std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Trim(std::string s) {
  const auto space = [](unsigned char c) { return std::isspace(c); };
  s.erase(s.begin(), std::find_if_not(s.begin(), s.end(), space));
  s.erase(std::find_if_not(s.rbegin(), s.rend(), space).base(), s.end());
  return s;
}

uint64_t SplitMix(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

}  // namespace

Result<ScheduledPeer> ParsePeerSpec(std::string_view spec) {
  const std::string where = "--sync-peer '" + utf8::Sanitize(spec.substr(0, 200)) + "'";
  std::vector<std::string> parts;
  std::stringstream in{std::string(spec)};
  for (std::string part; std::getline(in, part, ',');) parts.push_back(Trim(part));
  ScheduledPeer p;
  if (parts.empty() || (parts[0].rfind("http://", 0) != 0 && parts[0].rfind("https://", 0) != 0)) {
    return InvalidArgumentError(where + ": start with the peer's URL, http(s)://host[:port], "
                                "then ,key-file=F (e.g. https://replica:8443,key-file=peer.key)");
  }
  p.options.peer.url = parts[0];
  std::string key_file, key_env;
  for (size_t i = 1; i < parts.size(); ++i) {
    const size_t eq = parts[i].find('=');
    const std::string k = parts[i].substr(0, eq);
    const std::string v = eq == std::string::npos ? "" : parts[i].substr(eq + 1);
    if (eq == std::string::npos || v.empty()) {
      return InvalidArgumentError(where + ": '" + parts[i] + "' must be NAME=VALUE");
    }
    if (k == "key-file") {
      key_file = v;
    } else if (k == "key-env") {
      key_env = v;
    } else if (k == "ca") {
      p.options.peer.ca_file = v;
    } else if (k == "cert") {
      p.options.peer.client_cert_file = v;
    } else if (k == "cert-key") {
      p.options.peer.client_key_file = v;
    } else if (k == "direction") {
      auto d = ParseDirection(v);
      if (!d.ok()) return InvalidArgumentError(where + ": " + d.status().message());
      p.options.direction = *d;
    } else if (k == "collection") {
      p.options.collections.push_back(v);
    } else if (k == "interval") {
      auto ms = auth::ParseDuration(v);
      if (!ms.ok()) return InvalidArgumentError(where + ": interval: " + ms.status().message());
      if (*ms < 1000) return InvalidArgumentError(where + ": interval must be at least 1s");
      p.interval_seconds = static_cast<double>(*ms) / 1000.0;
    } else {
      return InvalidArgumentError(where + ": unknown setting '" + k + "'; use key-file, key-env, "
                                  "ca, cert, cert-key, direction, collection or interval");
    }
  }
  if (key_file.empty() == key_env.empty()) {
    return InvalidArgumentError(where + ": give the peer's writer key with exactly one of "
                                "key-file=FILE or key-env=VARIABLE");
  }
  if (!key_file.empty()) {
    std::ifstream f(key_file);
    if (!f) return NotFoundError(where + ": cannot read key file " + key_file);
    std::stringstream ss;
    ss << f.rdbuf();
    p.options.peer.api_key = Trim(ss.str());
  } else if (const char* e = std::getenv(key_env.c_str())) {
    p.options.peer.api_key = Trim(e);
  }
  if (p.options.peer.api_key.empty()) {
    return InvalidArgumentError(where + ": the peer key (" +
                                (key_file.empty() ? "environment variable " + key_env
                                                  : "file " + key_file) +
                                ") is empty");
  }
  return p;
}

std::string PeerLabel(std::string_view url) {
  std::string_view rest = url;
  std::string default_port = "80";
  if (rest.rfind("https://", 0) == 0) {
    rest.remove_prefix(8);
    default_port = "443";
  } else if (rest.rfind("http://", 0) == 0) {
    rest.remove_prefix(7);
  }
  rest = rest.substr(0, rest.find_first_of("/?#"));
  std::string hp(rest);
  const size_t bracket = hp.rfind(']');
  const size_t colon = hp.rfind(':');
  if (colon == std::string::npos || (bracket != std::string::npos && colon < bracket)) {
    hp += ":" + default_port;
  }
  for (char& c : hp) {
    const bool ok = std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == ':' ||
                    c == '_' || c == '-' || c == '[' || c == ']';
    if (!ok) c = '_';
  }
  return hp;
}

struct SyncScheduler::PeerState {
  ScheduledPeer cfg;
  PeerStatus st;
  CancelToken cancel;
  bool run_now = false;  // guarded by mu_
};

SyncScheduler::SyncScheduler(kb::KnowledgeBase& kb, SchedulerOptions opts,
                             metrics::Registry* registry)
    : kb_(kb), opts_(std::move(opts)), started_at_(NowSeconds()) {
  rng_ = opts_.seed ? opts_.seed : std::random_device{}() * 0x100000001ull + std::random_device{}();
  if (registry) {
    lag_ = &registry->AddGauge("deepkb_sync_lag_seconds",
                               "Seconds since the start of the last sync session with the peer "
                               "that caught up in every configured direction.",
                               {"peer"});
    last_success_ = &registry->AddGauge("deepkb_sync_last_success_timestamp_seconds",
                                        "Unix time of the last successful sync with the peer.",
                                        {"peer"});
    interval_ = &registry->AddGauge("deepkb_sync_interval_seconds",
                                    "Configured interval between sync sessions with the peer.",
                                    {"peer"});
    changes_ = &registry->AddCounter("deepkb_sync_changes_total",
                                     "Versions applied: direction=pull here from the peer, "
                                     "direction=push on the peer from here.",
                                     {"peer", "direction"});
    conflicts_ = &registry->AddCounter("deepkb_sync_conflicts_total",
                                       "Losing versions recorded as conflicts, both directions.",
                                       {"peer"});
    bytes_ = &registry->AddCounter("deepkb_sync_bytes_total",
                                   "JSON payload bytes of sync requests and answers.",
                                   {"peer", "direction"});
    errors_ = &registry->AddCounter("deepkb_sync_errors_total", "Failed sync sessions.", {"peer"});
    pruned_ = &registry->AddCounter("deepkb_sync_pruned_total",
                                    "Documents removed after complete full pulls from the peer "
                                    "because it had deleted them beyond its tombstone horizon.",
                                    {"peer"});
    purged_ = &registry->AddCounter("deepkb_sync_tombstones_purged_total",
                                    "Tombstones removed after the horizon.");
  }
  std::vector<std::string> labels;
  for (auto& cfg : opts_.peers) {
    auto p = std::make_unique<PeerState>();
    p->cfg = cfg;
    std::string label = PeerLabel(cfg.options.peer.url);
    for (int n = 2; std::count(labels.begin(), labels.end(), label); ++n) {
      label = PeerLabel(cfg.options.peer.url) + "/" + std::to_string(n);
    }
    labels.push_back(label);
    p->st.peer = label;
    p->st.url = cfg.options.peer.url;
    p->st.direction = std::string(DirectionName(cfg.options.direction));
    p->st.collections = cfg.options.collections;
    p->st.interval_seconds = cfg.interval_seconds;
    if (registry) {
      interval_->With({label}).Set(cfg.interval_seconds);
      last_success_->With({label}).Set(0);
      for (const char* d : {"pull", "push"}) {
        changes_->With({label, d});
        bytes_->With({label, d});
      }
      conflicts_->With({label});
      errors_->With({label});
      pruned_->With({label});
    }
    peers_.push_back(std::move(p));
  }
  RefreshMetrics();
}

SyncScheduler::~SyncScheduler() { Stop(); }

void SyncScheduler::Start() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_ || !threads_.empty()) return;
  for (auto& p : peers_) threads_.emplace_back([this, s = p.get()] { PeerLoop(*s); });
  if (opts_.tombstone_horizon_ms > 0) threads_.emplace_back([this] { PurgeLoop(); });
}

void SyncScheduler::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& p : peers_) p->cancel.Cancel();
  for (auto& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

void SyncScheduler::RunNow(size_t index) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (index >= peers_.size() || stopping_) return;
    peers_[index]->run_now = true;
  }
  cv_.notify_all();
}

std::vector<PeerStatus> SyncScheduler::Status() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<PeerStatus> out;
  const double now = NowSeconds();
  for (const auto& p : peers_) {
    out.push_back(p->st);
    out.back().lag_seconds = LagAt(p->st, now);
  }
  return out;
}

void SyncScheduler::RefreshMetrics() const {
  if (!lag_) return;
  for (const PeerStatus& s : Status()) lag_->With({s.peer}).Set(s.lag_seconds);
}

double SyncScheduler::LagAt(const PeerStatus& st, double now) const {
  const double origin = st.last_complete_start > 0 ? st.last_complete_start : started_at_;
  return std::max(0.0, now - origin);
}

double SyncScheduler::Delay(const PeerState& p) {
  const double u = static_cast<double>(SplitMix(rng_) >> 11) / 9007199254740992.0;  // [0, 1)
  if (p.st.consecutive_failures > 0) {
    const double backoff = opts_.retry_initial_seconds *
                           std::pow(2.0, std::min<int64_t>(p.st.consecutive_failures - 1, 40));
    return std::min(backoff, opts_.retry_max_seconds);
  }
  if (p.st.sessions == 0) return u * std::min(opts_.first_delay_max_seconds, p.cfg.interval_seconds);
  return p.cfg.interval_seconds * (1 + opts_.jitter * (2 * u - 1));
}

void SyncScheduler::PeerLoop(PeerState& p) {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    p.st.next_attempt = NowSeconds() + Delay(p);
    // Wait in slices (refreshing the lag gauge) until due, told to run now, or stopping.
    while (!stopping_ && !p.run_now && NowSeconds() < p.st.next_attempt) {
      const double left = std::min(kRefreshSeconds, p.st.next_attempt - NowSeconds());
      cv_.wait_for(lock, std::chrono::duration<double>(std::max(left, 0.0)));
      if (lag_) lag_->With({p.st.peer}).Set(LagAt(p.st, NowSeconds()));
    }
    if (stopping_) break;
    p.run_now = false;
    p.st.running = true;
    const double start = NowSeconds();
    p.st.last_attempt = start;
    SyncOptions o = p.cfg.options;
    o.cancel = &p.cancel;
    lock.unlock();

    SyncReport r;
    const deepkb::Status s = SyncOnce(kb_, o, r);
    const double end = NowSeconds();
    if (s.ok()) {
      spdlog::info(
          "sync with {}: pulled {} (applied {}, pruned {}), pushed {} (applied {}), "
          "conflicts {}, {} bytes, {:.2f} s",
          p.st.peer, r.pull.changes, r.pull.applied, r.pull.pruned, r.push.changes, r.push.applied,
          r.pull.conflicts + r.push.conflicts, r.pull.bytes + r.push.bytes, r.seconds);
    } else if (s.code() != StatusCode::kAborted) {
      spdlog::warn("sync with {} failed: {}", p.st.peer, s.ToString());
    }
    if (changes_) {
      changes_->With({p.st.peer, "pull"}).Inc(static_cast<double>(r.pull.applied));
      changes_->With({p.st.peer, "push"}).Inc(static_cast<double>(r.push.applied));
      conflicts_->With({p.st.peer}).Inc(static_cast<double>(r.pull.conflicts + r.push.conflicts));
      bytes_->With({p.st.peer, "pull"}).Inc(static_cast<double>(r.pull.bytes));
      bytes_->With({p.st.peer, "push"}).Inc(static_cast<double>(r.push.bytes));
      pruned_->With({p.st.peer}).Inc(static_cast<double>(r.pull.pruned));
      if (!s.ok()) errors_->With({p.st.peer}).Inc();
      if (s.ok()) last_success_->With({p.st.peer}).Set(end);
    }

    lock.lock();
    PeerStatus& st = p.st;
    st.running = false;
    ++st.sessions;
    st.applied += r.pull.applied;
    st.sent += r.push.changes;
    st.conflicts += r.pull.conflicts + r.push.conflicts;
    st.rejected += r.pull.rejected + r.push.rejected;
    st.pruned += r.pull.pruned;
    st.bytes_pulled += r.pull.bytes;
    st.bytes_pushed += r.push.bytes;
    if (!r.peer_node.empty()) st.peer_node = r.peer_node;
    if (s.ok()) {
      st.last_success = end;
      st.last_error.clear();
      st.consecutive_failures = 0;
      const bool caught_up = (!r.pull.ran || r.pull.complete) && (!r.push.ran || r.push.complete);
      if (caught_up) st.last_complete_start = start;
    } else {
      st.last_error = s.ToString();
      ++st.failures;
      ++st.consecutive_failures;
    }
    if (lag_) lag_->With({st.peer}).Set(LagAt(st, NowSeconds()));
  }
}

void SyncScheduler::PurgeLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    lock.unlock();
    auto r = kb_.TombstonePurge(opts_.tombstone_horizon_ms);
    if (!r.ok()) {
      spdlog::warn("tombstone purge failed (retried at the next run): {}", r.status().ToString());
    } else if (r->documents > 0) {
      spdlog::info("tombstone purge: removed {} tombstones older than {} s", r->documents,
                   opts_.tombstone_horizon_ms / 1000);
      if (purged_) purged_->With().Inc(static_cast<double>(r->documents));
    }
    ++purges_;
    lock.lock();
    cv_.wait_for(lock, std::chrono::duration<double>(opts_.purge_interval_seconds),
                 [this] { return stopping_; });
  }
}

}  // namespace deepkb::sync
