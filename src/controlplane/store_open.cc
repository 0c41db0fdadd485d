// OpenStore: the --store URL to a Store adapter.
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "omnirelay/config/status.h"
#include "omnirelay/controlplane/store.h"

namespace omnirelay::cp {

Status CheckExpectedRevision(std::string_view scope, std::optional<std::int64_t> current,
                             std::optional<std::int64_t> expected) {
  if (!expected || current.value_or(0) == *expected) return Status::Ok();
  const std::string who = "scope \"" + std::string(scope) + "\"";
  std::string message;
  if (*expected == 0) {
    message = who + " already exists at revision " + std::to_string(*current);
  } else if (!current) {
    message = who + " has no layer, not revision " + std::to_string(*expected);
  } else {
    message =
        who + " is at revision " + std::to_string(*current) + ", not " + std::to_string(*expected);
  }
  return Status(StatusCode::kConflict, std::move(message));
}

Status CheckCheckedLayer(std::string_view scope, std::optional<std::int64_t> current,
                         std::int64_t checked) {
  if (current.value_or(0) == checked) return Status::Ok();
  const std::string now =
      current ? "is at revision " + std::to_string(*current) : std::string("has no layer now");
  const std::string then =
      checked > 0 ? "revision " + std::to_string(checked) : std::string("no layer");
  return Status(StatusCode::kConflict, "scope \"" + std::string(scope) + "\" " + now +
                                           ", but the write was validated with " + then +
                                           " there; validate it again");
}

Result<std::unique_ptr<Store>> OpenStore(std::string_view url) {
  constexpr std::string_view kSqlite = "sqlite://";
  constexpr std::string_view kAccepted =
      "accepted: sqlite://<path> (e.g. sqlite://./var/controlplane/state.db or "
      "sqlite:///abs/state.db), sqlite::memory:, or postgres://<user>@<host>:<port>/<database> "
      "(also postgresql://)";
  if (url == "sqlite::memory:") return OpenSqliteStore(SqliteOptions{.path = ":memory:"});
  if (url.starts_with(kSqlite)) {
    std::string path(url.substr(kSqlite.size()));
    if (path.empty()) {
      return Status(StatusCode::kInvalidArgument, "store url \"" + std::string(url) +
                                                      "\" has no path; " + std::string(kAccepted));
    }
    return OpenSqliteStore(SqliteOptions{.path = std::move(path)});
  }
  if (url.starts_with("postgres://") || url.starts_with("postgresql://")) {
    // The url is not echoed, here or by the adapter: it may carry a password.
    return OpenPostgresStore(PostgresOptions{.url = std::string(url)});
  }
  // Only the scheme is quoted back: a store url may carry a password.
  return Status(StatusCode::kInvalidArgument, "unsupported store url scheme \"" +
                                                  std::string(url.substr(0, url.find("://"))) +
                                                  "\"; " + std::string(kAccepted));
}

}  // namespace omnirelay::cp
