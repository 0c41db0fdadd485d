#include "omnirelay/config/version.h"

#include "omni_commit.h"

namespace omnirelay {

std::string VersionText(std::string_view binary) {
  return std::string(binary) + " " + OMNI_VERSION + " (commit " + OMNI_COMMIT + ", " +
         OMNI_BUILD_KIND + " build)";
}

}  // namespace omnirelay
