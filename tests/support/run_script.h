// Runs a shell command for a test (the project's server scripts) and returns
// its standard output without trailing newlines or spaces; a non-zero exit
// is a test failure that shows the command and what it printed. Its standard
// error goes to the test's.
#pragma once

#include <gtest/gtest.h>
#include <stdio.h>

#include <string>

namespace omnirelay::testing_support {

inline std::string RunScript(const std::string& command) {
  std::string out;
  FILE* p = ::popen(command.c_str(), "r");
  if (p == nullptr) return out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  EXPECT_EQ(::pclose(p), 0) << command << "\n" << out;
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

}  // namespace omnirelay::testing_support
