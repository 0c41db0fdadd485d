// What `--version` prints for every binary of the project.
#pragma once

#include <string>
#include <string_view>

namespace omnirelay {

// "<binary> <version> (commit <git describe>, <build type>[, sanitizers ...])"
std::string VersionText(std::string_view binary);

}  // namespace omnirelay
