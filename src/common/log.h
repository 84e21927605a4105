// Logging set-up. All modules log through spdlog's default logger after InitLogging().
// Formats: "text" (human) or "json" (one object per line). Never log secrets or document text.
#pragma once

#include <string_view>

#include "common/status.h"

namespace deepkb {

// level: trace|debug|info|warn|error|off. Logs go to stderr. Thread-safe after the call.
Status InitLogging(std::string_view format, std::string_view level);

}  // namespace deepkb
