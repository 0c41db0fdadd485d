// Global flags and their resolution: flag > environment > context > default.
//
// The contexts file (OMNIRCTL_CONFIG, else $XDG_CONFIG_HOME/omnirctl/config,
// else ~/.config/omnirctl/config) is JSON:
//   {"currentContext": "prod",
//    "contexts": {"prod": {"server": "cp.prod:7443", "tokenFile": "prod.token",
//                          "ca": "ca.pem", "cert": "me.pem", "key": "me.key",
//                          "tlsServerName": "cp.prod",
//                          "tlsServerSpiffeId": "spiffe://prod.example/controlplane",
//                          "timeout": "10s"}}}
// Relative paths are relative to the file's directory; "~/" is $HOME. The
// file never holds a token itself, only the path of a token file.
#include "cli.h"

#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "exit_codes.h"
#include "omnirelay/config/files.h"
#include "omnirelay/config/scope.h"

namespace omnirelay::cli {
namespace {

constexpr std::string_view kDefaultServer = "127.0.0.1:7443";
constexpr std::size_t kMaxTokenFileBytes = 4096;
constexpr std::size_t kMaxContextsFileBytes = 1 << 20;

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v == nullptr ? std::string() : std::string(v);
}

struct ContextEntry {
  std::string name;
  std::string server, token_file, ca, cert, key, tls_server_name, tls_server_spiffe_id, timeout;
};

struct ContextsFile {
  std::string path;
  bool explicit_path = false;  // OMNIRCTL_CONFIG
};

ContextsFile ContextsPath() {
  if (auto p = Env("OMNIRCTL_CONFIG"); !p.empty()) return {p, true};
  if (auto xdg = Env("XDG_CONFIG_HOME"); !xdg.empty()) return {xdg + "/omnirctl/config", false};
  if (auto home = Env("HOME"); !home.empty()) return {home + "/.config/omnirctl/config", false};
  return {"", false};
}

std::string ResolvePath(const std::string& p, const std::string& base_dir) {
  if (p.empty()) return p;
  if (p.rfind("~/", 0) == 0) return Env("HOME") + p.substr(1);
  if (p.front() == '/') return p;
  return (std::filesystem::path(base_dir) / p).string();
}

// The selected context (`--context` or currentContext), or none.
Result<std::optional<ContextEntry>> LoadContext(const std::string& wanted) {
  const ContextsFile file = ContextsPath();
  std::error_code ec;
  if (file.path.empty() || !std::filesystem::exists(file.path, ec)) {
    if (file.explicit_path) {
      return Status(StatusCode::kIoError,
                    "OMNIRCTL_CONFIG names " + file.path + ", which does not exist");
    }
    if (!wanted.empty()) {
      return Status(StatusCode::kInvalidArgument,
                    "--context " + wanted + ": no contexts file (" + file.path + ")");
    }
    return std::optional<ContextEntry>();
  }
  auto text = ReadFileLimited(file.path, kMaxContextsFileBytes);
  if (!text.ok()) {
    return Status(StatusCode::kIoError,
                  "cannot read contexts file " + file.path + ": " + text.status().message());
  }
  if (text->find_first_not_of(" \t\r\n") == std::string::npos) {
    return std::optional<ContextEntry>();  // an empty file holds no context
  }
  const nlohmann::json doc = nlohmann::json::parse(*text, nullptr, /*allow_exceptions=*/false);
  auto malformed = [&](const std::string& why) {
    return Status(StatusCode::kInvalidArgument, "contexts file " + file.path + ": " + why);
  };
  if (!doc.is_object()) return malformed("not a JSON object");
  std::string name = wanted;
  if (name.empty()) {
    auto it = doc.find("currentContext");
    if (it == doc.end()) return std::optional<ContextEntry>();
    if (!it->is_string()) return malformed("currentContext is not a string");
    name = it->get<std::string>();
  }
  auto contexts = doc.find("contexts");
  if (contexts == doc.end() || !contexts->is_object() || !contexts->contains(name)) {
    return malformed("no context named \"" + name + "\"");
  }
  const nlohmann::json& c = (*contexts)[name];
  if (!c.is_object()) return malformed("context \"" + name + "\" is not an object");
  ContextEntry entry;
  entry.name = name;
  const std::string dir = std::filesystem::path(file.path).parent_path().string();
  for (const auto& [key, value] : c.items()) {
    if (!value.is_string()) return malformed("context \"" + name + "\": " + key + " not a string");
    const std::string v = value.get<std::string>();
    if (key == "server") {
      entry.server = v;
    } else if (key == "tokenFile") {
      entry.token_file = ResolvePath(v, dir);
    } else if (key == "ca") {
      entry.ca = ResolvePath(v, dir);
    } else if (key == "cert") {
      entry.cert = ResolvePath(v, dir);
    } else if (key == "key") {
      entry.key = ResolvePath(v, dir);
    } else if (key == "tlsServerName") {
      entry.tls_server_name = v;
    } else if (key == "tlsServerSpiffeId") {
      entry.tls_server_spiffe_id = v;
    } else if (key == "timeout") {
      entry.timeout = v;
    } else {
      return malformed("context \"" + name + "\": unknown field \"" + key + "\"");
    }
  }
  return std::optional<ContextEntry>(std::move(entry));
}

// Reads a token file: at most 4 KiB, surrounding whitespace trimmed. Warns
// (on `out`) when the file is readable by group or others.
Result<std::string> ReadTokenFile(const std::string& path, const Output& out) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return Status(StatusCode::kIoError, "cannot read token file " + path);
  }
  if (!S_ISREG(st.st_mode)) {
    return Status(StatusCode::kIoError, "token file " + path + " is not a regular file");
  }
  if ((st.st_mode & (S_IRGRP | S_IROTH)) != 0) {
    out.Warn("token file " + path + " is readable by group or others; chmod 600 it");
  }
  return ReadSecretFile(path, kMaxTokenFileBytes, "token file");
}

}  // namespace

Result<std::string> ReadSecretFile(const std::string& path, std::size_t max_bytes,
                                   const std::string& what) {
  auto text = ReadFileLimited(path, max_bytes);
  if (!text.ok()) {
    return Status(StatusCode::kIoError, "cannot read " + what + " " + path + " (" +
                                            std::string(text.status().code_name()) + ")");
  }
  std::string secret = std::move(text).value();
  const auto first = secret.find_first_not_of(" \t\r\n");
  if (first == std::string::npos) {
    return Status(StatusCode::kInvalidArgument, what + " " + path + " is empty");
  }
  secret.erase(0, first);
  secret.erase(secret.find_last_not_of(" \t\r\n") + 1);
  return secret;
}

void Cli::AddGlobalFlags(CLI::App& app) {
  app.add_option("--server", flags_.server,
                 "Control plane gRPC address host:port (env OMNIRCTL_SERVER; default " +
                     std::string(kDefaultServer) + ")");
  app.add_option("--token", flags_.token,
                 "Bearer token (env OMNIRCTL_TOKEN); prefer --token-file: argv is visible");
  app.add_option("--token-file", flags_.token_file, "File holding the bearer token (mode 0600)");
  app.add_option("-o,--output", flags_.output, "Output format: table (people) or json (scripts)")
      ->check(CLI::IsMember({"table", "json", "text"}))
      ->capture_default_str();
  app.add_option("--timeout", flags_.timeout, "Per-call deadline, e.g. 10s (default 10s)");
  app.add_option("--ca", flags_.ca, "PEM CA bundle to verify the server (enables TLS)");
  app.add_option("--cert", flags_.cert, "PEM client certificate (mTLS; with --key)");
  app.add_option("--key", flags_.key, "PEM client private key (mTLS; with --cert)");
  app.add_option("--tls-server-name", flags_.tls_server_name,
                 "Name to verify in the server certificate (default: the --server host)");
  app.add_option("--tls-server-spiffe-id", flags_.tls_server_spiffe_ids,
                 "SPIFFE ID the server certificate must carry (URI SAN), exact or a prefix "
                 "ending in /*; repeatable, any one matching admits. Checked before the token "
                 "is sent")
      ->allow_extra_args(false);
  app.add_option("--context", flags_.context,
                 "Context from the contexts file (env OMNIRCTL_CONFIG; default "
                 "~/.config/omnirctl/config)");
}

void Cli::Prepare() {
  const bool colour = Env("NO_COLOR").empty() && Env("TERM") != "dumb";
  out_ = std::make_unique<Output>(flags_.output == "json", colour && ::isatty(1) == 1,
                                  colour && ::isatty(2) == 1);
}

int Cli::ParseFailure(const std::string& message, const std::vector<std::string>& args) {
  // The parse failed, so -o may not have been read: look for it in argv.
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if ((a == "-o" || a == "--output") && i + 1 < args.size()) flags_.output = args[i + 1];
    if (a == "-ojson" || a == "--output=json") flags_.output = "json";
  }
  Prepare();
  UsageError(message + " (see omnirctl --help)");
  return exit_code_;
}

void Cli::UsageError(const std::string& message) {
  exit_code_ = out_->Fail(Status(StatusCode::kInvalidArgument, message));
}

bool Cli::ServerConfigured() {
  if (!flags_.server.empty() || !flags_.context.empty() || !Env("OMNIRCTL_SERVER").empty()) {
    return true;
  }
  // A broken contexts file counts as configured, so that its error shows
  // instead of a silent fall back to offline validation.
  auto context = LoadContext("");
  return !context.ok() || context->has_value();
}

Result<ConnectionSettings> Cli::ResolveSettings(bool read_token) {
  auto loaded = LoadContext(flags_.context);
  if (!loaded.ok()) return loaded.status();
  const ContextEntry context = loaded->value_or(ContextEntry{});
  auto pick = [](std::initializer_list<std::string> in) {
    for (const auto& s : in) {
      if (!s.empty()) return s;
    }
    return std::string();
  };
  ConnectionSettings s;
  s.server =
      pick({flags_.server, Env("OMNIRCTL_SERVER"), context.server, std::string(kDefaultServer)});
  s.ca_file = pick({flags_.ca, context.ca});
  s.cert_file = pick({flags_.cert, context.cert});
  s.key_file = pick({flags_.key, context.key});
  s.tls_server_name = pick({flags_.tls_server_name, context.tls_server_name});
  s.server_spiffe_ids = flags_.tls_server_spiffe_ids;
  if (s.server_spiffe_ids.empty() && !context.tls_server_spiffe_id.empty()) {
    s.server_spiffe_ids = {context.tls_server_spiffe_id};
  }
  if (s.cert_file.empty() != s.key_file.empty()) {
    return Status(StatusCode::kInvalidArgument, "--cert and --key go together");
  }
  if (const std::string t = pick({flags_.timeout, context.timeout}); !t.empty()) {
    auto ms = api::ParseDurationMs(t);
    if (!ms.ok())
      return Status(StatusCode::kInvalidArgument, "--timeout: " + ms.status().message());
    if (*ms <= 0) return Status(StatusCode::kInvalidArgument, "--timeout must be positive");
    s.timeout = std::chrono::milliseconds(*ms);
  }
  if (!read_token) return s;
  if (!flags_.token.empty() && !flags_.token_file.empty()) {
    return Status(StatusCode::kInvalidArgument, "give --token or --token-file, not both");
  }
  if (!flags_.token.empty()) {
    s.token = flags_.token;
  } else if (!flags_.token_file.empty()) {
    auto t = ReadTokenFile(flags_.token_file, *out_);
    if (!t.ok()) return t.status();
    s.token = std::move(t).value();
  } else if (auto env = Env("OMNIRCTL_TOKEN"); !env.empty()) {
    s.token = env;
  } else if (!context.token_file.empty()) {
    auto t = ReadTokenFile(context.token_file, *out_);
    if (!t.ok()) return t.status();
    s.token = std::move(t).value();
  }
  return s;
}

void Cli::RunWithServer(const std::function<int(Session&)>& body) {
  auto settings = ResolveSettings();
  if (!settings.ok()) {
    exit_code_ = out_->Fail(settings.status());
    return;
  }
  Run(*settings, body);
}

void Cli::RunWithBearer(const std::string& bearer, const std::function<int(Session&)>& body) {
  auto settings = ResolveSettings(/*read_token=*/false);
  if (!settings.ok()) {
    exit_code_ = out_->Fail(settings.status());
    return;
  }
  settings->token = bearer;
  Run(*settings, body);
}

Result<std::string> Cli::ContextTokenFile() {
  auto loaded = LoadContext(flags_.context);
  if (!loaded.ok()) return loaded.status();
  return loaded->has_value() ? (*loaded)->token_file : std::string();
}

void Cli::Run(const ConnectionSettings& settings, const std::function<int(Session&)>& body) {
  auto client = NewGrpcClient(settings);
  if (!client.ok()) {
    exit_code_ = out_->Fail(client.status());
    return;
  }
  Session session{**client, *out_};
  exit_code_ = body(session);
}

CLI::Validator ScopeValidator() {
  return CLI::Validator(
      [](std::string& s) {
        auto parsed = ParseScope(s);
        return parsed.ok() ? std::string() : parsed.status().message();
      },
      "SCOPE");
}

}  // namespace omnirelay::cli
