#include "output.h"

#include <algorithm>
#include <chrono>
#include <iostream>
#include <nlohmann/json.hpp>

#include "exit_codes.h"
#include "omnirelay/api/json.h"
#include "omnirelay/api/status_mapping.h"

namespace omnirelay::cli {
namespace {

std::string_view Escape(Colour c) {
  switch (c) {
    case Colour::kRed:
      return "\033[31m";
    case Colour::kGreen:
      return "\033[32m";
    case Colour::kYellow:
      return "\033[33m";
    case Colour::kBold:
      return "\033[1m";
    case Colour::kDim:
      return "\033[2m";
    case Colour::kNone:
      break;
  }
  return "";
}

std::string PaintIf(bool enabled, std::string_view text, Colour colour) {
  if (!enabled || colour == Colour::kNone) return std::string(text);
  return std::string(Escape(colour)) + std::string(text) + "\033[0m";
}

std::string ShownPath(const std::string& pointer) {
  return pointer.empty() ? "(root)" : pointer;
}

}  // namespace

Output::Output(bool json, bool colour_stdout, bool colour_stderr)
    : json_(json), colour_stdout_(colour_stdout), colour_stderr_(colour_stderr) {}

std::string Output::Paint(std::string_view text, Colour colour) const {
  return PaintIf(colour_stdout_, text, colour);
}

int ExitCodeFor(const Status& status) {
  switch (status.code()) {
    case StatusCode::kOk:
      return kExitOk;
    case StatusCode::kUnavailable:
      return kExitUnreachable;
    case StatusCode::kUnauthenticated:
    case StatusCode::kPermissionDenied:
      return kExitDenied;
    case StatusCode::kConflict:
    case StatusCode::kRolloutInProgress:
    case StatusCode::kFrozen:
      return kExitConflict;
    case StatusCode::kInvalid:
    case StatusCode::kMissingFeature:
    case StatusCode::kTooLarge:
      return kExitInvalid;
    case StatusCode::kInvalidArgument:
      return kExitUsage;
    default:
      return kExitError;
  }
}

int Output::Fail(const Status& status) const {
  if (json_) {
    // The REST error body, with the status name and the exit code beside it.
    nlohmann::json error = api::ErrorJson(status);
    error["status"] = std::string(status.code_name());
    error["exitCode"] = ExitCodeFor(status);
    std::cerr << nlohmann::json{{"error", std::move(error)}}.dump() << "\n";
  } else {
    std::cerr << PaintIf(colour_stderr_, "error", Colour::kRed) << ": " << api::ErrorCode(status)
              << ": " << status.message() << "\n";
    for (const auto& d : status.diagnostics()) {
      std::cerr << "  " << ShownPath(d.path) << ": " << diag_code_name(d.code) << ": " << d.message
                << "\n";
    }
  }
  return ExitCodeFor(status);
}

void Output::Warn(const std::string& message) const {
  if (json_) {
    std::cerr << nlohmann::json{{"warning", message}}.dump() << "\n";
    return;
  }
  std::cerr << PaintIf(colour_stderr_, "warning", Colour::kYellow) << ": " << message << "\n";
}

Table::Table(std::vector<std::string> headers) : headers_(std::move(headers)) {}

void Table::Row(std::vector<Cell> cells) {
  cells.resize(headers_.size(), Cell(""));
  rows_.push_back(std::move(cells));
}

void Table::Print(std::ostream& os, const Output& out) const {
  std::vector<std::size_t> width(headers_.size());
  for (std::size_t i = 0; i < headers_.size(); ++i) width[i] = headers_[i].size();
  for (const auto& row : rows_) {
    for (std::size_t i = 0; i < row.size(); ++i) width[i] = std::max(width[i], row[i].text.size());
  }
  auto line = [&](const std::vector<Cell>& cells) {
    std::string text;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      const bool last = i + 1 == cells.size();
      text += out.Paint(cells[i].text, cells[i].colour);
      if (!last) text += std::string(width[i] - cells[i].text.size() + 2, ' ');
    }
    os << text << "\n";
  };
  std::vector<Cell> header;
  for (const auto& h : headers_) header.emplace_back(h, Colour::kBold);
  line(header);
  for (const auto& row : rows_) line(row);
}

std::int64_t NowUnixMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string Join(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) out += (out.empty() ? "" : sep) + p;
  return out;
}

std::string RelativeTime(std::int64_t unix_ms, std::int64_t now_ms) {
  if (unix_ms == 0) return "-";
  const bool future = unix_ms > now_ms;
  const std::int64_t s = (future ? unix_ms - now_ms : now_ms - unix_ms) / 1000;
  std::string amount;
  if (s < 1 && !future) return "just now";
  if (s < 60) {
    amount = std::to_string(s) + "s";
  } else if (s < 3600) {
    amount = std::to_string(s / 60) + "m";
  } else if (s < 86400) {
    amount = std::to_string(s / 3600) + "h";
  } else {
    amount = std::to_string(s / 86400) + "d";
  }
  return future ? "in " + amount : amount + " ago";
}

}  // namespace omnirelay::cli
