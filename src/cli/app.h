// Shared state of the deepkb command line: global options and helpers every subcommand uses.
#pragma once

#include <CLI/CLI.hpp>

#include <memory>
#include <string>

#include "common/file_lock.h"
#include "common/status.h"
#include "kb/kb.h"

namespace deepkb::cli {

struct GlobalOptions {
  std::string data_dir = "./data";
  std::string log_format = "text";
  std::string log_level = "warn";
  int64_t max_file_mb = 100;
};

// A KnowledgeBase opened directly on the data directory, with the directory lock held shared
// (refused while a server holds it exclusively).
struct OpenKb {
  std::unique_ptr<DirLock> lock;
  std::unique_ptr<kb::KnowledgeBase> kb;
};
Result<OpenKb> OpenDataDir(const GlobalOptions& g);

// Prints "error: <message>" to stderr and returns the contract's exit code for the status.
int Fail(const Status& s);

// Registers collections, ingest, search and docs. Each subcommand's callback stores its exit
// code in *exit_code.
void RegisterKbCommands(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterServeCommand(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterIndexCommands(CLI::App& app, GlobalOptions& g, int* exit_code);
void RegisterBenchCommand(CLI::App& app, GlobalOptions& g, int* exit_code);

}  // namespace deepkb::cli
