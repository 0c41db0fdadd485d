// How omnirctl prints: aligned tables and relative times for people, JSON for
// scripts (-o json), errors on stderr as one line (or one JSON object), and
// colour only when the stream is a terminal and NO_COLOR is unset.
//
// Thread safety: used from main's thread only.
#pragma once

#include <cstdint>
#include <iosfwd>
#include <string>
#include <string_view>
#include <vector>

#include "omnirelay/config/status.h"

namespace omnirelay::cli {

enum class Colour { kNone, kRed, kGreen, kYellow, kBold, kDim };

class Output {
 public:
  Output(bool json, bool colour_stdout, bool colour_stderr);

  bool json() const { return json_; }

  // `text` in `colour` when stdout is a colour terminal, else as is.
  std::string Paint(std::string_view text, Colour colour) const;

  // Prints `status` on stderr (one line + one line per diagnostic, or one JSON
  // object) and returns the documented exit code for it.
  int Fail(const Status& status) const;

  // A warning on stderr: "warning: ..." or, with -o json, {"warning": "..."}.
  void Warn(const std::string& message) const;

 private:
  bool json_;
  bool colour_stdout_;
  bool colour_stderr_;
};

// The exit code for an error status (exit_codes.h).
int ExitCodeFor(const Status& status);

// A table printed with columns padded to their widest cell. Cells may carry
// a colour; padding is computed on the text, so colour never skews columns.
class Table {
 public:
  struct Cell {
    std::string text;
    Colour colour = Colour::kNone;
    Cell(std::string t) : text(std::move(t)) {}  // NOLINT: implicit by design
    Cell(const char* t) : text(t) {}             // NOLINT: implicit by design
    Cell(std::string t, Colour c) : text(std::move(t)), colour(c) {}
  };

  explicit Table(std::vector<std::string> headers);
  void Row(std::vector<Cell> cells);
  bool empty() const { return rows_.empty(); }
  void Print(std::ostream& os, const Output& out) const;

 private:
  std::vector<std::string> headers_;
  std::vector<std::vector<Cell>> rows_;
};

// Unix milliseconds now (wall clock).
std::int64_t NowUnixMs();
// "12s ago", "3m ago", "2h ago", "5d ago", "in 3h"; "-" for 0.
std::string RelativeTime(std::int64_t unix_ms, std::int64_t now_ms);
// "a,b,c" (or with another separator): scopes and the like in one cell or line.
std::string Join(const std::vector<std::string>& parts, const char* sep = ",");

}  // namespace omnirelay::cli
