// Crash test: a child process (crash_writer) writes documents in a loop and is SIGKILLed at
// random moments, at least 20 times. After every kill the data directory is reopened and:
//   - every write the child reported as done is there (or the one it began right after, for the
//     same document, if that also committed before the kill);
//   - no document is half-written: its chunk count matches its chunk rows and its marker token
//     is found by keyword search;
//   - SQLite's integrity_check and the FTS5 integrity-check pass (KnowledgeBase::Verify).
// Seeded: DEEPKB_CRASH_SEED (default 1) and DEEPKB_CRASH_ITERS (default 25) reproduce a run.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <sstream>
#include <string>

#include "common/hash.h"
#include "kb/kb.h"

namespace {

struct Expect {
  std::string done_hash;     // last reported committed state ("-" = deleted, "" = never done)
  std::string pending_hash;  // begun after the last done, may or may not have committed
  bool has_pending = false;
};

int EnvInt(const char* name, int def) {
  const char* v = std::getenv(name);
  return v && *v ? std::atoi(v) : def;
}

// Runs the writer for `ms` milliseconds, then SIGKILLs it; returns its complete stdout lines.
std::vector<std::string> RunAndKill(const std::string& dir, unsigned seed, int ms) {
  int fds[2];
  if (pipe(fds) != 0) return {};
  pid_t pid = fork();
  if (pid == 0) {
    dup2(fds[1], 1);
    close(fds[0]);
    close(fds[1]);
    execl(DEEPKB_CRASH_WRITER, DEEPKB_CRASH_WRITER, dir.c_str(), std::to_string(seed).c_str(),
          static_cast<char*>(nullptr));
    _exit(127);
  }
  close(fds[1]);
  std::string out;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  char buf[65536];
  while (std::chrono::steady_clock::now() < deadline) {
    pollfd p{fds[0], POLLIN, 0};
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                          deadline - std::chrono::steady_clock::now())
                          .count();
    if (poll(&p, 1, static_cast<int>(std::max<long>(left, 0))) > 0) {
      ssize_t n = read(fds[0], buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
  }
  kill(pid, SIGKILL);
  int status = 0;
  waitpid(pid, &status, 0);
  for (ssize_t n; (n = read(fds[0], buf, sizeof buf)) > 0;) out.append(buf, static_cast<size_t>(n));
  close(fds[0]);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL)
      << "writer exited on its own (status " << status << ") — see its stderr";
  std::vector<std::string> lines;
  std::istringstream in(out);
  std::string line;
  while (std::getline(in, line)) {
    if (!in.eof()) lines.push_back(line);  // the last piece may be a partial line: drop it
  }
  return lines;
}

TEST(CrashTest, SigkillDuringIngestLosesNothingAcknowledged) {
  const unsigned seed0 = static_cast<unsigned>(EnvInt("DEEPKB_CRASH_SEED", 1));
  const int iters = EnvInt("DEEPKB_CRASH_ITERS", 25);
  std::mt19937 rng(seed0);
  const auto dir = std::filesystem::temp_directory_path() / ("crash_test_" + deepkb::RandomHex(6));
  std::map<std::string, Expect> expect;
  int total_done = 0;

  for (int it = 0; it < iters; ++it) {
    const unsigned seed = seed0 * 1000 + static_cast<unsigned>(it);
    const int ms = 150 + static_cast<int>(rng() % 600);
    SCOPED_TRACE("iteration " + std::to_string(it) + " seed " + std::to_string(seed) +
                 " kill after " + std::to_string(ms) + " ms");
    for (const auto& line : RunAndKill(dir.string(), seed, ms)) {
      std::istringstream ls(line);
      std::string phase, op, id, hash;
      ls >> phase >> op >> id >> hash;
      Expect& e = expect[id];
      if (phase == "begin") {
        e.pending_hash = hash;
        e.has_pending = true;
      } else if (phase == "done") {
        e.done_hash = hash;
        e.has_pending = false;
        ++total_done;
      }
    }

    auto opened = deepkb::kb::KnowledgeBase::Open(dir.string());
    ASSERT_TRUE(opened.ok()) << opened.status().ToString();
    auto& kb = **opened;
    ASSERT_TRUE(kb.Verify().ok()) << kb.Verify().ToString();
    for (auto& [id, e] : expect) {
      auto doc = kb.GetDocument("crash", id);
      std::string actual = doc.ok() ? doc->content_hash : "-";
      if (!doc.ok()) {
        ASSERT_EQ(doc.status().code(), deepkb::StatusCode::kNotFound);
      }
      const bool matches_done = (e.done_hash.empty() ? actual == "-" : actual == e.done_hash);
      const bool matches_pending = e.has_pending && actual == e.pending_hash;
      ASSERT_TRUE(matches_done || matches_pending)
          << id << ": found " << actual << ", reported " << e.done_hash << " pending "
          << e.pending_hash;
      // Whatever state it is in, it is whole: adopt it as the new baseline.
      e.done_hash = (actual == "-") ? (e.done_hash.empty() ? "" : "-") : actual;
      e.has_pending = false;
      if (doc.ok()) {
        auto chunks = kb.GetDocumentChunks("crash", id);
        ASSERT_TRUE(chunks.ok());
        ASSERT_EQ(static_cast<int64_t>(chunks->size()), doc->chunk_count) << id;
        ASSERT_GT(doc->chunk_count, 0);
      }
    }
    // Marker tokens of a sample of live documents are searchable (index == data).
    int checked = 0;
    for (const auto& [id, e] : expect) {
      if (e.done_hash.empty() || e.done_hash == "-" || ++checked > 20) continue;
      auto chunks = kb.GetDocumentChunks("crash", id);
      ASSERT_TRUE(chunks.ok());
      const std::string& first = chunks->front().text;
      const std::string marker = first.substr(7, first.find('.') - 7);  // "tok..."
      auto hits = kb.Search({.collection = "crash", .query = marker, .mode = "keyword", .top_k = 3});
      ASSERT_TRUE(hits.ok());
      ASSERT_FALSE(hits->hits.empty()) << "marker " << marker << " of " << id << " not found";
      EXPECT_EQ(hits->hits[0].doc_id, id);
    }
  }
  EXPECT_GT(total_done, iters) << "the writer barely wrote anything; the test proves little";
  std::filesystem::remove_all(dir);
}

}  // namespace
