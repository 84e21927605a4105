// The gateway's command-line flags, shared by `deepkb serve` and `deepkb ask` (local mode).
#pragma once

#include <CLI/CLI.hpp>

#include <string>
#include <vector>

#include "common/status.h"
#include "gateway/gateway.h"

namespace deepkb::cli {

struct GatewayFlags {
  std::vector<std::string> upstreams;   // --upstream NAME=URL[,attr=value]...
  std::vector<std::string> aliases;     // --knowledge-alias ALIAS=MODEL,collection=C...
  std::vector<std::string> remote_kbs;  // --remote-kb NAME=URL[,attr=value]...
  double chat_timeout_seconds = 600;
  size_t context_tokens = 32768;
  size_t answer_tokens = 2048;
  size_t llm_queue = 64;
  int llm_retries = 3;
};

// Adds the flags to `cmd` (their help texts are the reference, docs/gateway.md repeats them).
void AddGatewayFlags(CLI::App* cmd, GatewayFlags& f);
// Parses the flags into a configuration; InvalidArgument naming the bad flag.
Result<gateway::GatewayConfig> GatewayConfigFrom(const GatewayFlags& f);

}  // namespace deepkb::cli
