// Terminal progress bar for long CLI work (ingest, rebuilds). Draws on stderr only when stderr
// is a terminal, at most ~10 times a second, and clears its line when finished. Not
// thread-safe: one owner thread calls Update/Finish.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

namespace deepkb::cli {

class ProgressBar {
 public:
  // `enabled` false → every call is a no-op (non-TTY, --json, CI logs).
  explicit ProgressBar(bool enabled);
  ~ProgressBar();

  // done/total in items (files); extra is shown after the counters (e.g. "1234 chunks").
  // `fraction` (0..1) drives the bar and the ETA when the items differ in size (bytes done /
  // bytes total); negative means done/total.
  void Update(uint64_t done, uint64_t total, const std::string& extra, const std::string& current,
              double fraction = -1);
  void Finish();

  // True when stderr is a terminal and TERM is not "dumb".
  static bool StderrIsTerminal();

  // Formats seconds as H:MM:SS or M:SS (exposed for tests).
  static std::string FormatDuration(double seconds);

 private:
  bool enabled_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

}  // namespace deepkb::cli
