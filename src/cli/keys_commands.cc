// `omnirctl keys generate|list|rotate|revoke`: signing-key rotation with
// separated roles (docs/knowledge-base/signing.md, "Key rotation"). Root
// keys stay on the operator's machine: `rotate` and `revoke` read them here,
// sign the next key set here, and send the control plane only the signed
// envelope. `generate` runs offline.
#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli.h"
#include "exit_codes.h"
#include "omnirelay/config/files.h"
#include "omnirelay/config/key_set.h"
#include "omnirelay/config/rfc3339.h"

namespace omnirelay::cli {
namespace {

struct RotateArgs {
  std::vector<std::string> root_keys;       // PEM files that sign (current roots)
  std::vector<std::string> next_root_keys;  // PEM files: the new version's roots
  int threshold = 0;                        // 0: keep the current one (first set: 1)
  std::vector<std::string> add_online;      // PEM files whose public halves become online keys
  std::vector<std::string> revoke;          // online key ids to revoke
  std::string out;                          // also write the new envelope here
  std::string trust;                        // the key set the operator trusts (pinned)
};

Result<std::vector<SigningKey>> LoadKeys(const std::vector<std::string>& files) {
  std::vector<SigningKey> keys;
  for (const std::string& file : files) {
    Result<SigningKey> key = SigningKey::LoadPem(file);
    if (!key.ok()) return Status(key.status().code(), file + ": " + key.status().message());
    keys.push_back(std::move(key).value());
  }
  return keys;
}

// The newest key set the server has, or nullopt (then its trusted-keys.json
// is where version 1 starts). With `trust` (a key set file the operator
// keeps), the server's chain is walked from it as a node would walk it, so
// a control plane serving a forged "newest" set cannot get root keys to sign
// on top of it; without it only the set's own signatures are checked (what
// `keys list` shows).
Result<std::optional<SignedKeySet>> Latest(ControlClient& client, const std::string& trust = "") {
  if (!trust.empty()) {
    auto text = ReadFileLimited(trust, 1 << 20);
    if (!text.ok()) return Status(text.status().code(), trust + ": " + text.status().message());
    auto pinned = VerifyKeySetSelf(*text);
    if (!pinned.ok()) {
      return Status(pinned.status().code(), trust + ": " + pinned.status().message());
    }
    OMNI_ASSIGN_OR_RETURN(KeySetChainView after, client.GetKeySets(pinned->set.version));
    if (after.latest_version < pinned->set.version) {
      return Status(StatusCode::kConflict,
                    "the server's newest key set is version " +
                        std::to_string(after.latest_version) + ", older than version " +
                        std::to_string(pinned->set.version) + " in " + trust +
                        ": not the control plane (or the store) that file came from?");
    }
    std::vector<std::string> chain;
    for (auto& [version, envelope] : after.key_sets) chain.push_back(std::move(envelope));
    auto walked = VerifyKeySetChain(*pinned, chain);
    if (!walked.ok()) {
      return Status(walked.status().code(), "the server's key sets do not chain from " + trust +
                                                ": " + walked.status().message());
    }
    return std::optional<SignedKeySet>(std::move(walked).value());
  }
  OMNI_ASSIGN_OR_RETURN(KeySetChainView chain, client.GetKeySets(0));
  if (chain.key_sets.empty()) return std::optional<SignedKeySet>();
  Result<SignedKeySet> latest = VerifyKeySetSelf(chain.key_sets.back().second);
  if (!latest.ok()) {
    return Status(latest.status().code(),
                  "the server's newest key set does not verify: " + latest.status().message());
  }
  return std::optional<SignedKeySet>(std::move(latest).value());
}

void PrintKeySet(const KeySet& set, const Output& out) {
  std::cout << "key set version " << set.version << " (created " << set.created_at << "), "
            << set.threshold << " of " << set.root_keys.keys().size()
            << " root signature(s) to change it\n";
  Table table({"ROLE", "KEY ID", "STATE"});
  for (const TrustedKey& k : set.root_keys.keys()) table.Row({"root", k.key_id, "-"});
  for (const TrustedKey& k : set.online_keys.keys()) {
    table.Row(
        {"online", k.key_id,
         k.revoked ? Table::Cell("revoked", Colour::kRed) : Table::Cell("active", Colour::kGreen)});
  }
  table.Print(std::cout, out);
}

nlohmann::json KeySetJson(const KeySet& set) {
  nlohmann::json roots = nlohmann::json::array(), online = nlohmann::json::array();
  for (const TrustedKey& k : set.root_keys.keys()) roots.push_back(k.key_id);
  for (const TrustedKey& k : set.online_keys.keys()) {
    online.push_back({{"keyId", k.key_id}, {"revoked", k.revoked}});
  }
  return {{"version", set.version},
          {"createdAt", set.created_at},
          {"threshold", set.threshold},
          {"rootKeys", roots},
          {"onlineKeys", online}};
}

int RunList(Session& s) {
  auto latest = Latest(s.client);
  if (!latest.ok()) return s.out.Fail(latest.status());
  if (!*latest) {
    auto trusted = s.client.GetTrustedKeys();
    if (!trusted.ok()) return s.out.Fail(trusted.status());
    auto keys = TrustedKeySet::FromJson(*trusted);
    if (!keys.ok()) return s.out.Fail(keys.status());
    if (s.out.json()) {
      nlohmann::json online = nlohmann::json::array();
      for (const TrustedKey& k : keys->keys()) {
        online.push_back({{"keyId", k.key_id}, {"revoked", k.revoked}});
      }
      std::cout << nlohmann::json{{"version", 0}, {"onlineKeys", online}}.dump() << "\n";
      return kExitOk;
    }
    std::cout << "no key set yet: nodes trust trusted-keys.json as copied to them; "
                 "`omnirctl keys rotate --root-key FILE` publishes version 1\n";
    Table table({"ROLE", "KEY ID", "STATE"});
    for (const TrustedKey& k : keys->keys()) {
      table.Row({"online", k.key_id, k.revoked ? "revoked" : "active"});
    }
    table.Print(std::cout, s.out);
    return kExitOk;
  }
  if (s.out.json()) {
    std::cout << KeySetJson((*latest)->set).dump() << "\n";
  } else {
    PrintKeySet((*latest)->set, s.out);
  }
  return kExitOk;
}

// Builds, signs and publishes the next version.
int RunRotate(Session& s, const RotateArgs& a) {
  if (a.root_keys.empty()) {
    return s.out.Fail(Status(StatusCode::kInvalidArgument,
                             "--root-key FILE is required: key sets are signed by root keys"));
  }
  auto signers = LoadKeys(a.root_keys);
  if (!signers.ok()) return s.out.Fail(signers.status());
  auto next_roots = LoadKeys(a.next_root_keys);
  if (!next_roots.ok()) return s.out.Fail(next_roots.status());
  auto added = LoadKeys(a.add_online);
  if (!added.ok()) return s.out.Fail(added.status());
  auto latest = Latest(s.client, a.trust);
  if (!latest.ok()) return s.out.Fail(latest.status());
  if (*latest && a.trust.empty()) {
    return s.out.Fail(Status(
        StatusCode::kInvalidArgument,
        "the control plane has key set version " + std::to_string((*latest)->set.version) +
            ": give the key set you trust with --trust FILE (the file an earlier `keys rotate "
            "--out` wrote), so the chain it serves is checked before your root keys sign on top "
            "of it"));
  }

  KeySet next;
  if (*latest) {
    next = (*latest)->set;
    next.version += 1;
  } else {
    // Version 1: the online keys the daemon serves today, the signers as roots.
    auto trusted = s.client.GetTrustedKeys();
    if (!trusted.ok()) return s.out.Fail(trusted.status());
    auto keys = TrustedKeySet::FromJson(*trusted);
    if (!keys.ok()) return s.out.Fail(keys.status());
    next.version = 1;
    next.online_keys = std::move(keys).value();
    next.threshold = 1;
    for (const SigningKey& k : *signers) (void)next.root_keys.Add(k.public_key_raw());
  }
  next.created_at = FormatRfc3339(NowUnixMs() / 1000);
  if (!next_roots->empty()) {
    next.root_keys = TrustedKeySet();
    for (const SigningKey& k : *next_roots) {
      if (Status st = next.root_keys.Add(k.public_key_raw()); !st.ok()) return s.out.Fail(st);
    }
  }
  if (a.threshold > 0) next.threshold = a.threshold;
  for (const SigningKey& k : *added) {
    if (Status st = next.online_keys.Add(k.public_key_raw()); !st.ok()) return s.out.Fail(st);
  }
  for (const std::string& id : a.revoke) {
    if (Status st = next.online_keys.Revoke(id); !st.ok()) return s.out.Fail(st);
  }
  // The signers: the current roots plus, on a root change, the new ones (both
  // must reach their thresholds; the same key signs once).
  std::vector<const SigningKey*> by;
  for (const SigningKey& k : *signers) by.push_back(&k);
  for (const SigningKey& k : *next_roots) {
    bool already = false;
    for (const SigningKey* b : by) already = already || b->key_id() == k.key_id();
    if (!already) by.push_back(&k);
  }
  // Checked here before anything leaves the machine: the same rules nodes apply.
  if (Result<KeySet> parsed = ParseKeySetPayload(KeySetPayload(next)); !parsed.ok()) {
    return s.out.Fail(parsed.status());
  }
  auto envelope = SignKeySet(next, by);
  if (!envelope.ok()) return s.out.Fail(envelope.status());
  Result<SignedKeySet> checked =
      *latest ? VerifyNextKeySet((*latest)->set, *envelope) : VerifyKeySetSelf(*envelope);
  if (!checked.ok()) return s.out.Fail(checked.status());
  auto version = s.client.PublishKeySet(*envelope);
  if (!version.ok()) return s.out.Fail(version.status());
  if (!a.out.empty()) {
    if (Status w = WriteFileAtomically(a.out, *envelope, 0644); !w.ok()) return s.out.Fail(w);
  }
  if (s.out.json()) {
    nlohmann::json j = KeySetJson(next);
    if (!a.out.empty()) j["file"] = a.out;
    std::cout << j.dump() << "\n";
    return kExitOk;
  }
  std::cout << "published ";
  PrintKeySet(next, s.out);
  if (!a.out.empty()) std::cout << "envelope written to " << a.out << "\n";
  return kExitOk;
}

void AddSignerFlags(CLI::App& cmd, RotateArgs& a) {
  cmd.add_option("--root-key", a.root_keys,
                 "A root key's PEM file (repeat up to the threshold); read here, never sent")
      ->check(CLI::ExistingFile);
  cmd.add_option("--trust", a.trust,
                 "The key set you trust (a file an earlier rotate wrote with --out): the "
                 "server's chain is checked from it before anything is signed; required once "
                 "the control plane has a key set")
      ->check(CLI::ExistingFile);
  cmd.add_option("--out", a.out,
                 "Also write the signed key set here (what new nodes are given as "
                 "--trusted-keys)");
}

}  // namespace

void AddKeysCommands(CLI::App& app, Cli& cli) {
  CLI::App* keys =
      app.add_subcommand("keys", "Signing keys: list, rotate and revoke them with root keys");
  keys->require_subcommand(1);
  keys->footer(
      "Root keys sign key sets and stay on operators' machines; the control plane's online\n"
      "key signs snapshots. Nodes accept a key set only when it is the next version and\n"
      "carries enough root signatures (docs/knowledge-base/signing.md, \"Key rotation\").");

  auto generate_file = std::make_shared<std::string>();
  CLI::App* cmd =
      keys->add_subcommand("generate", "Write a new Ed25519 key (PEM, mode 0600); offline");
  cmd->add_option("file", *generate_file, "Where to write it (must not exist)")->required();
  cmd->callback([&cli, generate_file] {
    if (RealFileSystem().Exists(*generate_file)) {
      cli.set_exit_code(cli.out().Fail(Status(
          StatusCode::kInvalidArgument, *generate_file + " exists; keys are never overwritten")));
      return;
    }
    auto key = SigningKey::Generate();
    Status saved = key.ok() ? key->SavePem(*generate_file) : key.status();
    if (!saved.ok()) {
      cli.set_exit_code(cli.out().Fail(saved));
      return;
    }
    if (cli.out().json()) {
      std::cout << nlohmann::json{{"keyId", key->key_id()}, {"file", *generate_file}}.dump()
                << "\n";
    } else {
      std::cout << key->key_id() << " written to " << *generate_file << " (mode 0600)\n";
    }
  });

  cmd = keys->add_subcommand("list", "The newest key set: root and online keys");
  cmd->callback([&cli] { cli.RunWithServer([](Session& s) { return RunList(s); }); });

  auto rotate = std::make_shared<RotateArgs>();
  cmd = keys->add_subcommand(
      "rotate",
      "Publish the next key set: add online keys, change the root keys or the threshold "
      "(the first one, version 1, lists the keys the control plane signs with today)");
  AddSignerFlags(*cmd, *rotate);
  cmd->add_option("--online-key", rotate->add_online,
                  "A new online key's PEM file (its public half is listed; install the file on "
                  "each replica as --signing-key afterwards)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--next-root-key", rotate->next_root_keys,
                  "The new version's root keys (PEM; they sign too); default: unchanged")
      ->check(CLI::ExistingFile);
  cmd->add_option("--threshold", rotate->threshold,
                  "Root signatures needed to change the set from now on (default: unchanged; "
                  "1 for version 1 — fine for a trial, not for production)")
      ->check(CLI::PositiveNumber);
  cmd->callback(
      [&cli, rotate] { cli.RunWithServer([&](Session& s) { return RunRotate(s, *rotate); }); });

  auto revoke = std::make_shared<RotateArgs>();
  cmd = keys->add_subcommand(
      "revoke", "Publish the next key set with online keys revoked (nodes refuse them at once)");
  cmd->add_option("key-id", revoke->revoke, "Online key ids to revoke")->required();
  AddSignerFlags(*cmd, *revoke);
  cmd->callback(
      [&cli, revoke] { cli.RunWithServer([&](Session& s) { return RunRotate(s, *revoke); }); });
}

}  // namespace omnirelay::cli
