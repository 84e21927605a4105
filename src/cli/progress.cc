#include "cli/progress.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "common/utf8.h"

namespace deepkb::cli {

ProgressBar::ProgressBar(bool enabled)
    : enabled_(enabled), start_(std::chrono::steady_clock::now()) {}

ProgressBar::~ProgressBar() { Finish(); }

bool ProgressBar::StderrIsTerminal() {
  const char* term = std::getenv("TERM");
  return ::isatty(STDERR_FILENO) == 1 && !(term && std::strcmp(term, "dumb") == 0);
}

std::string ProgressBar::FormatDuration(double seconds) {
  if (seconds < 0 || seconds > 360000) return "--:--";
  const auto s = static_cast<long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%ld:%02ld:%02ld", s / 3600, (s / 60) % 60, s % 60);
  } else {
    std::snprintf(buf, sizeof buf, "%ld:%02ld", s / 60, s % 60);
  }
  return buf;
}

void ProgressBar::Update(uint64_t done, uint64_t total, const std::string& extra,
                         const std::string& current, double fraction) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (drawn_ && done < total && now - last_draw_ < std::chrono::milliseconds(100)) return;
  last_draw_ = now;
  drawn_ = true;
  const double elapsed = std::chrono::duration<double>(now - start_).count();
  double frac = total ? static_cast<double>(done) / static_cast<double>(total) : 1.0;
  if (fraction >= 0) frac = fraction > 1 ? 1 : fraction;
  constexpr int kWidth = 24;
  const int filled = static_cast<int>(frac * kWidth);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.append(static_cast<size_t>(kWidth - filled), '-');
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0;
  const double eta = (frac > 0 && elapsed > 0) ? elapsed * (1 - frac) / frac : -1;
  // Keep the file name short so the line fits an 80-column terminal.
  std::string name = current;
  if (name.size() > 28) {
    size_t cut = utf8::FloorBoundary(name, name.size() - 27);
    name = "…" + name.substr(cut);
  }
  std::fprintf(stderr, "\r\033[K[%s] %llu/%llu files  %s  %.1f files/s  ETA %s  %s", bar.c_str(),
               static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
               extra.c_str(), rate, FormatDuration(eta).c_str(), name.c_str());
  std::fflush(stderr);
}

void ProgressBar::Finish() {
  if (enabled_ && drawn_) {
    std::fprintf(stderr, "\r\033[K");
    std::fflush(stderr);
    drawn_ = false;
  }
}

}  // namespace deepkb::cli
