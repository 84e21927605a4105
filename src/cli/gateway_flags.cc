#include "cli/gateway_flags.h"

namespace deepkb::cli {

void AddGatewayFlags(CLI::App* cmd, GatewayFlags& f) {
  cmd->add_option("--upstream", f.upstreams,
                  "an OpenAI-compatible LLM engine: NAME=URL[,model=M]...[,key-env=VAR]"
                  "[,key-file=F][,priority=N][,max-concurrency=N][,tokenizer=tokenizer.json]"
                  "[,context=TOKENS][,timeout=S][,connect-timeout=S][,stream-usage=true|false]; "
                  "repeat for failover (lower priority first); without model= it serves model NAME")
      ->group("Gateway");
  cmd->add_option("--knowledge-alias", f.aliases,
                  "a model name that answers from collections: ALIAS=MODEL,collection=C"
                  "[,collection=KB/C]...[,top-k=N][,mode=auto|hybrid|keyword|vector]; MODEL is an "
                  "upstream model or 'extractive'")
      ->group("Gateway");
  cmd->add_option("--remote-kb", f.remote_kbs,
                  "a remote KB node for retrieval (collections named KB/C): NAME=URL[,key-file=F]"
                  "[,key-env=VAR][,ca=F][,replica=URL][,replica-key-file=F][,replica-key-env=VAR]"
                  "[,replica-ca=F][,timeout=S][,connect-timeout=S]")
      ->group("Gateway");
  cmd->add_option("--chat-timeout", f.chat_timeout_seconds,
                  "deadline of one chat request in seconds, queueing included")
      ->check(CLI::Range(1.0, 86400.0))
      ->capture_default_str()
      ->group("Gateway");
  cmd->add_option("--context-tokens", f.context_tokens,
                  "context window of upstream models without context= (tokens)")
      ->check(CLI::Range(256, 100000000))
      ->capture_default_str()
      ->group("Gateway");
  cmd->add_option("--answer-tokens", f.answer_tokens,
                  "tokens kept free for the answer when a request sets no max_tokens")
      ->check(CLI::Range(1, 10000000))
      ->capture_default_str()
      ->group("Gateway");
  cmd->add_option("--llm-queue", f.llm_queue,
                  "chat requests waiting per upstream; beyond: 429 at once")
      ->check(CLI::Range(1, 1000000))
      ->capture_default_str()
      ->group("Gateway");
  cmd->add_option("--llm-retries", f.llm_retries,
                  "attempts per upstream before failing over (the first included)")
      ->check(CLI::Range(1, 10))
      ->capture_default_str()
      ->group("Gateway");
}

Result<gateway::GatewayConfig> GatewayConfigFrom(const GatewayFlags& f) {
  gateway::GatewayConfig c;
  for (const std::string& s : f.upstreams) {
    ASSIGN_OR_RETURN(gateway::UpstreamSpec u, gateway::ParseUpstreamFlag(s));
    c.upstreams.push_back(std::move(u));
  }
  for (const std::string& s : f.aliases) {
    ASSIGN_OR_RETURN(gateway::KnowledgeAlias a, gateway::ParseAliasFlag(s));
    c.aliases.push_back(std::move(a));
  }
  for (const std::string& s : f.remote_kbs) {
    ASSIGN_OR_RETURN(gateway::RemoteKbConfig r, gateway::ParseRemoteKbFlag(s));
    c.remote_kbs.push_back(std::move(r));
  }
  c.request_timeout_seconds = f.chat_timeout_seconds;
  c.default_context_tokens = f.context_tokens;
  c.answer_reserve_tokens = f.answer_tokens;
  c.router.admission.max_queue = f.llm_queue;
  c.router.retry.max_attempts = f.llm_retries;
  return c;
}

}  // namespace deepkb::cli
