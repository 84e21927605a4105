// Test helpers for running the deepkb binary: commands through the shell, and `deepkb serve` as
// a child process (cli_test, keys_cli_test, cost_cli_test, doctor_test, encryption_test,
// backup_test).
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

namespace deepkb::testing {

struct CmdResult {
  int code = -1;
  std::string out;  // what the command printed
  std::string err;  // stderr, when the caller captured it separately
};

// `s` as one single-quoted shell word.
inline std::string Quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) {
    if (c == '\'') {
      q += "'\\''";
    } else {
      q += c;
    }
  }
  return q + "'";
}

// Runs `cmd` with /bin/sh; returns what it wrote to stdout (redirect stderr in `cmd` as needed)
// and its exit code (-1 when it did not exit normally or could not start).
inline CmdResult RunShell(const std::string& cmd) {
  CmdResult r;
  FILE* p = popen(cmd.c_str(), "r");
  if (p == nullptr) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int st = pclose(p);
  r.code = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
  return r;
}

// `deepkb serve` on a free loopback port as a child process, with its admin key.
class ServeProcess {
 public:
  ~ServeProcess() { Stop(); }

  // Starts `bin --data-dir DATA --log-level error serve --listen 127.0.0.1:0 EXTRA...` and waits
  // until it prints the address it serves. Returns "" on success, else what went wrong.
  std::string Start(const std::string& bin, const std::string& data,
                    const std::vector<std::string>& extra = {}) {
    int out[2];
    if (pipe(out) != 0) return "pipe failed";
    std::vector<std::string> args = {bin, "--data-dir", data, "--log-level", "error", "serve",
                                     "--listen", "127.0.0.1:0"};
    args.insert(args.end(), extra.begin(), extra.end());
    pid_ = fork();
    if (pid_ == 0) {
      dup2(out[1], 1);
      close(out[0]);
      close(out[1]);
      std::vector<char*> argv;
      for (auto& a : args) argv.push_back(a.data());
      argv.push_back(nullptr);
      execv(bin.c_str(), argv.data());
      _exit(127);
    }
    close(out[1]);
    std::string text;
    char buf[4096];
    const std::regex re(R"(serving on http://127\.0\.0\.1:(\d+))");
    std::smatch m;
    while (!std::regex_search(text, m, re)) {
      const ssize_t n = read(out[0], buf, sizeof buf);
      if (n <= 0) {
        close(out[0]);
        return "server exited before serving:\n" + text;
      }
      text.append(buf, static_cast<size_t>(n));
    }
    close(out[0]);
    port_ = std::stoi(m[1].str());
    std::ifstream key_file(data + "/admin.key");
    std::getline(key_file, admin_key_);
    return admin_key_.empty() ? "no admin key in " + data + "/admin.key" : "";
  }

  // SIGTERM and wait (the server drains and saves its snapshots).
  void Stop() {
    if (pid_ > 0) {
      kill(pid_, SIGTERM);
      waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  int port() const { return port_; }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  const std::string& admin_key() const { return admin_key_; }
  pid_t pid() const { return pid_; }

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  std::string admin_key_;
};

}  // namespace deepkb::testing
