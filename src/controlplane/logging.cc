#include "logging.h"

#include <grpc/support/log.h>
#include <spdlog/sinks/base_sink.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <mutex>
#include <nlohmann/json.hpp>

namespace omnirelay::cp {
namespace {

// {"time":"...","level":"info","msg":"..."} per line; nlohmann escapes the message.
class JsonLineSink final : public spdlog::sinks::base_sink<std::mutex> {
 protected:
  void sink_it_(const spdlog::details::log_msg& msg) override {
    const auto ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(msg.time.time_since_epoch()).count();
    nlohmann::json line = {{"timeMs", ms},
                           {"level", std::string(spdlog::level::to_string_view(msg.level).data(),
                                                 spdlog::level::to_string_view(msg.level).size())},
                           {"msg", std::string(msg.payload.data(), msg.payload.size())}};
    const std::string out = line.dump() + "\n";
    std::fwrite(out.data(), 1, out.size(), stderr);
  }
  void flush_() override { std::fflush(stderr); }
};

// gRPC's own log lines (e.g. chttp2_server.cc on a failed bind) are internal
// detail: the daemon reports what failed in its own words. They go through
// the daemon's logger at debug level, prefixed "grpc:".
void GrpcLogLine(gpr_log_func_args* args) {
  if (args == nullptr || args->message == nullptr) return;
  spdlog::debug("grpc: {} ({}:{})", args->message, args->file ? args->file : "?", args->line);
}

}  // namespace

Status SetupLogging(const std::string& format, const std::string& level) {
  const auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off") {
    return Status(StatusCode::kInvalidArgument, "unknown log level \"" + level + "\"");
  }
  std::shared_ptr<spdlog::logger> logger;
  if (format == "json") {
    logger = std::make_shared<spdlog::logger>("controlplane", std::make_shared<JsonLineSink>());
  } else if (format == "text") {
    logger = spdlog::stderr_color_mt("controlplane");
    // RFC 3339 in UTC, like every time the API writes.
    logger->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %^%l%$ %v", spdlog::pattern_time_type::utc);
  } else {
    return Status(StatusCode::kInvalidArgument,
                  "unknown log format \"" + format + "\" (text or json)");
  }
  logger->set_level(lvl);
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(logger);
  gpr_set_log_verbosity(lvl <= spdlog::level::debug ? GPR_LOG_SEVERITY_DEBUG
                                                    : GPR_LOG_SEVERITY_ERROR);
  gpr_set_log_function(GrpcLogLine);
  return Status::Ok();
}

}  // namespace omnirelay::cp
