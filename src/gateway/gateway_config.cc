// Command-line forms of the gateway's configuration: --upstream and --knowledge-alias.
#include <algorithm>
#include <charconv>
#include <cmath>
#include <string>

#include "gateway/gateway.h"

namespace deepkb::gateway {

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

// "HEAD=VALUE,key=value,key=value" → head, value and the attributes in order.
struct FlagParts {
  std::string head, value;
  std::vector<std::pair<std::string, std::string>> attrs;
};

Result<FlagParts> SplitFlag(std::string_view flag, std::string_view what, std::string_view form) {
  FlagParts out;
  std::vector<std::string_view> items;
  size_t start = 0;
  while (true) {
    const size_t comma = flag.find(',', start);
    items.push_back(Trim(flag.substr(start, comma == std::string_view::npos ? flag.npos : comma - start)));
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  const auto bad = [&](const std::string& why) {
    return InvalidArgumentError(std::string(what) + " '" + std::string(flag) + "': " + why +
                                " (form: " + std::string(form) + ")");
  };
  const size_t eq = items[0].find('=');
  if (eq == std::string_view::npos || eq == 0 || eq + 1 == items[0].size()) {
    return bad("must start with NAME=VALUE");
  }
  out.head = std::string(Trim(items[0].substr(0, eq)));
  out.value = std::string(Trim(items[0].substr(eq + 1)));
  for (size_t i = 1; i < items.size(); ++i) {
    const size_t e = items[i].find('=');
    if (e == std::string_view::npos || e == 0) {
      return bad("attribute '" + std::string(items[i]) + "' must be key=value");
    }
    out.attrs.emplace_back(std::string(Trim(items[i].substr(0, e))),
                           std::string(Trim(items[i].substr(e + 1))));
  }
  return out;
}

Result<double> ParsePositive(const std::string& key, const std::string& v, double max) {
  double x = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || !std::isfinite(x) || x <= 0 || x > max) {
    return InvalidArgumentError(key + "=" + v + " must be a number in (0, " +
                                std::to_string(static_cast<long long>(max)) + "]");
  }
  return x;
}

Result<long long> ParseInt(const std::string& key, const std::string& v, long long lo,
                           long long hi) {
  long long x = 0;
  const auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
  if (ec != std::errc() || p != v.data() + v.size() || x < lo || x > hi) {
    return InvalidArgumentError(key + "=" + v + " must be an integer from " + std::to_string(lo) +
                                " to " + std::to_string(hi));
  }
  return x;
}

bool ValidName(std::string_view s) {
  return !s.empty() && s.size() <= 128 && std::all_of(s.begin(), s.end(), [](unsigned char c) {
    return std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == ':' || c == '/' || c >= 0x80;
  });
}

}  // namespace

std::pair<std::string, std::string> SplitCollectionRef(std::string_view ref) {
  const size_t slash = ref.find('/');
  if (slash == std::string_view::npos) return {"", std::string(ref)};
  return {std::string(ref.substr(0, slash)), std::string(ref.substr(slash + 1))};
}

Result<UpstreamSpec> ParseUpstreamFlag(std::string_view flag) {
  constexpr std::string_view kForm =
      "NAME=URL[,model=M]...[,key-env=VAR][,key-file=F][,priority=N][,max-concurrency=N]"
      "[,tokenizer=F][,context=N][,timeout=S][,connect-timeout=S][,stream-usage=true|false]";
  ASSIGN_OR_RETURN(FlagParts parts, SplitFlag(flag, "--upstream", kForm));
  UpstreamSpec spec;
  llm::UpstreamConfig& c = spec.config;
  c.name = parts.head;
  c.base_url = parts.value;
  if (!ValidName(c.name)) {
    return InvalidArgumentError("--upstream name '" + c.name +
                                "' must be letters, digits, - _ . : only");
  }
  if (c.base_url.rfind("http://", 0) != 0 && c.base_url.rfind("https://", 0) != 0) {
    return InvalidArgumentError("--upstream " + c.name + ": URL '" + c.base_url +
                                "' must start with http:// or https://");
  }
  for (const auto& [k, v] : parts.attrs) {
    if (k == "model") {
      if (v.empty()) return InvalidArgumentError("--upstream " + c.name + ": empty model=");
      c.models.push_back(v);
    } else if (k == "key-env") {
      c.api_key_env = v;
    } else if (k == "key-file") {
      c.api_key_file = v;
    } else if (k == "priority") {
      ASSIGN_OR_RETURN(long long p, ParseInt(k, v, -1000000, 1000000));
      c.priority = static_cast<int>(p);
    } else if (k == "max-concurrency") {
      ASSIGN_OR_RETURN(long long m, ParseInt(k, v, 1, 100000));
      c.max_concurrency = static_cast<int>(m);
    } else if (k == "tokenizer") {
      spec.tokenizer_file = v;
    } else if (k == "context") {
      ASSIGN_OR_RETURN(long long n, ParseInt(k, v, 256, 100000000));
      spec.context_tokens = static_cast<size_t>(n);
    } else if (k == "timeout") {
      ASSIGN_OR_RETURN(c.read_timeout_seconds, ParsePositive(k, v, 86400));
    } else if (k == "connect-timeout") {
      ASSIGN_OR_RETURN(c.connect_timeout_seconds, ParsePositive(k, v, 3600));
    } else if (k == "stream-usage") {
      if (v != "true" && v != "false") {
        return InvalidArgumentError("--upstream " + c.name + ": stream-usage must be true or false");
      }
      c.stream_include_usage = v == "true";
    } else {
      return InvalidArgumentError("--upstream " + c.name + ": unknown attribute '" + k +
                                  "' (form: " + std::string(kForm) + ")");
    }
  }
  if (c.models.empty()) c.models.push_back(c.name);
  return spec;
}

Result<KnowledgeAlias> ParseAliasFlag(std::string_view flag) {
  constexpr std::string_view kForm =
      "ALIAS=MODEL[,collection=C]...[,top-k=N][,mode=auto|hybrid|keyword|vector]";
  ASSIGN_OR_RETURN(FlagParts parts, SplitFlag(flag, "--knowledge-alias", kForm));
  KnowledgeAlias a;
  a.name = parts.head;
  a.model = parts.value;
  if (!ValidName(a.name)) {
    return InvalidArgumentError("--knowledge-alias name '" + a.name +
                                "' must be letters, digits, - _ . : only");
  }
  for (const auto& [k, v] : parts.attrs) {
    if (k == "collection") {
      const auto [kb, coll] = SplitCollectionRef(v);
      if (coll.empty() || (v.find('/') != std::string::npos && kb.empty())) {
        return InvalidArgumentError("--knowledge-alias " + a.name + ": collection '" + v +
                                    "' must be NAME or KB/NAME");
      }
      a.collections.push_back(v);
    } else if (k == "top-k") {
      ASSIGN_OR_RETURN(long long n, ParseInt(k, v, 1, 100));
      a.top_k = static_cast<int>(n);
    } else if (k == "mode") {
      if (v != "auto" && v != "hybrid" && v != "keyword" && v != "vector") {
        return InvalidArgumentError("--knowledge-alias " + a.name +
                                    ": mode must be auto, hybrid, keyword or vector");
      }
      a.mode = v;
    } else {
      return InvalidArgumentError("--knowledge-alias " + a.name + ": unknown attribute '" + k +
                                  "' (form: " + std::string(kForm) + ")");
    }
  }
  if (a.collections.empty()) {
    return InvalidArgumentError("--knowledge-alias " + a.name +
                                ": name at least one collection=C (an alias retrieves from them)");
  }
  return a;
}

}  // namespace deepkb::gateway
