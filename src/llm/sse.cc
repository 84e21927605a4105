#include "llm/sse.h"

#include <nlohmann/json.hpp>

namespace deepkb::llm {

using json = nlohmann::json;

bool SseParser::Feed(std::string_view bytes) {
  size_t start = 0;
  for (size_t i = 0; i < bytes.size(); ++i) {
    const char c = bytes[i];
    if (c == '\n' && after_cr_ && line_.empty() && i == start) {
      // "\r\n" split so that "\n" starts this piece, or right after a "\r" in it.
      after_cr_ = false;
      start = i + 1;
      continue;
    }
    after_cr_ = false;
    if (c == '\n' || c == '\r') {
      line_.append(bytes.substr(start, i - start));
      after_cr_ = (c == '\r');
      std::string line;
      line.swap(line_);
      start = i + 1;
      if (!Line(line)) return false;
    }
  }
  line_.append(bytes.substr(start));
  if (line_.size() > kMaxLineBytes) {
    overflowed_ = true;
    return false;
  }
  return true;
}

bool SseParser::Line(std::string_view line) {
  if (line.empty()) {
    if (!has_data_) return true;
    std::string data;
    data.swap(data_);
    has_data_ = false;
    return on_data_(data);
  }
  if (line.front() == ':') return true;  // comment / keep-alive
  const size_t colon = line.find(':');
  const std::string_view field = line.substr(0, colon);
  std::string_view value;
  if (colon != std::string_view::npos) {
    value = line.substr(colon + 1);
    if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
  }
  if (field == "data") {
    if (has_data_) data_.push_back('\n');
    data_.append(value);
    has_data_ = true;
  }
  return true;
}

namespace {

int64_t IntField(const json& o, const char* key) {
  auto it = o.find(key);
  if (it == o.end() || !it->is_number()) return 0;
  return it->get<int64_t>();
}

}  // namespace

Status ParseChunk(std::string_view json_text, std::vector<ChatEvent>& out) {
  const json j = json::parse(json_text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded() || !j.is_object()) {
    return InvalidArgumentError("malformed JSON in a stream chunk");
  }
  try {
    if (auto e = j.find("error"); e != j.end() && !e->is_null()) {
      std::string msg;
      if (e->is_object()) {
        if (auto m = e->find("message"); m != e->end() && m->is_string()) msg = *m;
      } else if (e->is_string()) {
        msg = *e;
      }
      if (msg.size() > 200) msg.resize(200);
      return UnavailableError("the engine reported an error mid-stream" +
                              (msg.empty() ? std::string() : ": " + msg));
    }
    if (auto ch = j.find("choices"); ch != j.end() && ch->is_array()) {
      for (const auto& c : *ch) {
        if (!c.is_object()) continue;
        const int index = static_cast<int>(IntField(c, "index"));
        if (auto d = c.find("delta"); d != c.end() && d->is_object()) {
          for (const char* key : {"reasoning_content", "reasoning"}) {
            if (auto r = d->find(key); r != d->end() && r->is_string() &&
                                       !r->get_ref<const std::string&>().empty()) {
              out.push_back({ChatEvent::Kind::kReasoning, index, r->get<std::string>(), "", {}});
              break;
            }
          }
          if (auto t = d->find("content"); t != d->end() && t->is_string() &&
                                           !t->get_ref<const std::string&>().empty()) {
            out.push_back({ChatEvent::Kind::kContent, index, t->get<std::string>(), "", {}});
          }
        }
        if (auto f = c.find("finish_reason"); f != c.end() && f->is_string()) {
          out.push_back({ChatEvent::Kind::kFinish, index, "", f->get<std::string>(), {}});
        }
      }
    }
    if (auto u = j.find("usage"); u != j.end() && u->is_object()) {
      ChatEvent ev;
      ev.kind = ChatEvent::Kind::kUsage;
      ev.usage.prompt_tokens = IntField(*u, "prompt_tokens");
      ev.usage.completion_tokens = IntField(*u, "completion_tokens");
      ev.usage.total_tokens = IntField(*u, "total_tokens");
      out.push_back(std::move(ev));
    }
  } catch (const std::exception&) {
    return InvalidArgumentError("malformed stream chunk");
  }
  return Status::Ok();
}

}  // namespace deepkb::llm
