#include "common/log.h"

#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <string>

namespace deepkb {

Status InitLogging(std::string_view format, std::string_view level) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") {
    return InvalidArgumentError("unknown log level '" + std::string(level) +
                                "'; use trace, debug, info, warn, error or off");
  }
  auto logger = spdlog::stderr_color_mt("deepkb");
  spdlog::set_default_logger(logger);
  spdlog::set_level(lvl);
  if (format == "json") {
    spdlog::set_pattern(
        R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"msg":"%v"})");
  } else if (format == "text") {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ %v");
  } else {
    return InvalidArgumentError("unknown log format '" + std::string(format) +
                                "'; use text or json");
  }
  return Status::Ok();
}

}  // namespace deepkb
