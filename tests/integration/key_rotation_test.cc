// Key rotation end to end (docs/knowledge-base/signing.md, "Key rotation"):
// the real daemon in-process, relays (ConfigHost + Watcher) started from key
// set version 1, and the operator's steps — publish a set adding a key,
// restart the daemon with it, publish sets revoking the old one — through
// the REST face.
#include <gtest/gtest.h>
#include <httplib.h>

#include <filesystem>
#include <string>

#include "omnirelay/config/digest.h"
#include "omnirelay/config/key_set.h"
#include "relay_fleet.h"

namespace omnirelay::relay::testing {
namespace {

SigningKey NewKey() {
  return std::move(SigningKey::Generate()).value();
}

class KeyRotationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    lkg_dir_ = cp_.data_dir() + "-lkg";
    std::filesystem::create_directories(lkg_dir_);
    cp_.Start();
    cp_.PutLayer("global");
    daemon_key_id_ = cp_.TrustedKeys().keys().front().key_id;
  }
  void TearDown() override { std::filesystem::remove_all(lkg_dir_); }

  // POST /v1/keysets as admin: the HTTP status and body.
  std::pair<int, std::string> Publish(const std::string& envelope) {
    httplib::Client client("127.0.0.1", cp_.http_port());
    auto res = client.Post("/v1/keysets", {{"Authorization", "Bearer " + cp_.admin_token()}},
                           envelope, "application/json");
    if (!res) return {0, ""};
    return {res->status, res->body};
  }
  // Version 1: the key the daemon signs with online, root_ the only root.
  KeySet V1() {
    KeySet v1;
    v1.version = 1;
    v1.created_at = "2026-12-06T18:00:00Z";
    EXPECT_TRUE(v1.root_keys.Add(root_.public_key_raw()).ok());
    v1.online_keys = cp_.TrustedKeys();
    return v1;
  }
  KeySet Next(const KeySet& from) {
    KeySet next = from;
    next.version += 1;
    return next;
  }
  std::string Signed(const KeySet& set) { return std::move(SignKeySet(set, {&root_})).value(); }
  // Restarts the daemon (same data dir and ports) signing with `key_file`.
  void RestartDaemonWith(const std::string& key_file) {
    const int grpc = cp_.grpc_port(), http = cp_.http_port();
    cp_.Stop();
    cp_.Configure([key_file](cp::DaemonOptions& o) { o.signing_key_file = key_file; });
    cp_.Start(grpc, http);
  }
  std::string SaveKey(const SigningKey& key, const std::string& name) {
    const std::string path = cp_.data_dir() + "/" + name;
    EXPECT_TRUE(key.SavePem(path).ok());
    return path;
  }

  ControlPlane cp_;
  std::string lkg_dir_;
  std::string daemon_key_id_;
  SigningKey root_ = NewKey();
  MetricsRegistry metrics_;
};

TEST_F(KeyRotationTest, RelayMissingThreeRotationsCatchesUpAndRestartTrustsOnlyTheNewChain) {
  const KeySet v1 = V1();
  auto [status1, body1] = Publish(Signed(v1));
  ASSERT_EQ(status1, 201) << body1;
  SignedKeySet configured = std::move(VerifyKeySetSelf(Signed(v1))).value();

  RelayConfig config;
  config.grpc_endpoints = {cp_.grpc_endpoint()};
  config.http_endpoints = {cp_.http_endpoint()};
  config.key_set = configured;
  // No periodic poll: the relay must catch up because a snapshot names a key
  // it does not know (ConfigHost's unknown_key path).
  config.key_set_poll_interval_ms = 0;
  Relay relay("relay-1", cp_.NodeToken("relay-1"), lkg_dir_, TrustedKeySet(), metrics_, config);
  relay.StartWatcher();
  ASSERT_TRUE(Eventually([&] { return relay.version() >= 1; }));
  EXPECT_EQ(relay.host().health().key_set_version, 1);
  const std::string old_envelope = cp_.SnapshotEnvelope("relay-1");

  // The relay is away for three rotations.
  relay.StopWatcher();
  SigningKey online_b = NewKey(), online_c = NewKey();
  const std::string b_file = SaveKey(online_b, "online-b.pem");
  KeySet v2 = Next(v1);
  ASSERT_TRUE(v2.online_keys.Add(online_b.public_key_raw()).ok());
  ASSERT_EQ(Publish(Signed(v2)).first, 201);
  // Revoking the key the daemon still signs with is refused: nodes would
  // refuse everything it serves.
  KeySet early = Next(v2);
  ASSERT_TRUE(early.online_keys.Revoke(daemon_key_id_).ok());
  auto [early_status, early_body] = Publish(Signed(early));
  EXPECT_EQ(early_status, 409) << early_body;
  EXPECT_NE(early_body.find("this replica signs snapshots with"), std::string::npos);

  RestartDaemonWith(b_file);
  KeySet v3 = Next(v2);
  ASSERT_TRUE(v3.online_keys.Revoke(daemon_key_id_).ok());
  ASSERT_EQ(Publish(Signed(v3)).first, 201);
  KeySet v4 = Next(v3);
  ASSERT_TRUE(v4.online_keys.Add(online_c.public_key_raw()).ok());
  ASSERT_EQ(Publish(Signed(v4)).first, 201);
  // The daemon re-signed with B; the envelope it serves now names B.
  EXPECT_NE(cp_.SnapshotEnvelope("relay-1").find(online_b.key_id()), std::string::npos);

  // Back: the B-signed snapshot names a key version 1 lacks; the relay walks
  // 2, 3, 4 and applies it.
  relay.StartWatcher();
  ASSERT_TRUE(Eventually([&] { return relay.host().health().key_set_version == 4; }))
      << relay.host().health().last_key_set_error.message();
  ASSERT_TRUE(Eventually([&] {
    auto current = relay.host().Current();
    return current && current->key_id() == online_b.key_id();
  })) << "last error: "
      << relay.host().health().last_error.ToString() << "; key "
      << (relay.host().Current() ? relay.host().Current()->key_id() : "-") << "; b "
      << online_b.key_id() << "; hash " << relay.host().health().hash << "; node "
      << cp_.Node("relay-1").dump();
  // The old key is revoked now: its snapshot is refused at once.
  EXPECT_EQ(relay.host().Apply(old_envelope).status().code(), StatusCode::kRevokedKey);

  // Restarted with the configured version 1 (which trusts the old key), the
  // relay trusts the chain it reached, kept beside its last-known-good.
  relay.StopWatcher();
  relay.Restart();
  EXPECT_EQ(relay.host().health().key_set_version, 4);
  EXPECT_TRUE(relay.lkg_load_status().ok()) << relay.lkg_load_status().message();
  EXPECT_EQ(relay.host().Apply(old_envelope).status().code(), StatusCode::kRevokedKey);
}

TEST_F(KeyRotationTest, DaemonRefusesBadKeySetsAndReadTokensCannotPublish) {
  const KeySet v1 = V1();
  // The first set must be version 1.
  KeySet v5 = v1;
  v5.version = 5;
  EXPECT_EQ(Publish(Signed(v5)).first, 409);
  ASSERT_EQ(Publish(Signed(v1)).first, 201);
  // A replay, a skipped version, a set signed by another key, and garbage.
  EXPECT_EQ(Publish(Signed(v1)).first, 409);
  KeySet v3 = Next(Next(v1));
  EXPECT_EQ(Publish(Signed(v3)).first, 409);
  SigningKey stranger = NewKey();
  auto [forged_status, forged_body] = Publish(std::move(SignKeySet(Next(v1), {&stranger})).value());
  EXPECT_EQ(forged_status, 400) << forged_body;
  EXPECT_NE(forged_body.find("unknown_key"), std::string::npos) << forged_body;
  auto [bad_status, bad_body] = Publish("{\"payloadType\":");
  EXPECT_EQ(bad_status, 400) << bad_body;

  // A config:read token can read the chain but not publish.
  httplib::Client client("127.0.0.1", cp_.http_port());
  auto made = client.Post("/v1/tokens", {{"Authorization", "Bearer " + cp_.admin_token()}},
                          R"({"name":"reader","scopes":["config:read"]})", "application/json");
  ASSERT_TRUE(made && made->status == 201);
  const std::string reader = Json::parse(made->body)["token"].get<std::string>();
  auto denied = client.Post("/v1/keysets", {{"Authorization", "Bearer " + reader}},
                            Signed(Next(v1)), "application/json");
  ASSERT_TRUE(denied);
  EXPECT_EQ(denied->status, 403) << denied->body;
  auto chain = client.Get("/v1/keysets?after=0", {{"Authorization", "Bearer " + reader}});
  ASSERT_TRUE(chain && chain->status == 200);
  const Json listed = Json::parse(chain->body);
  EXPECT_EQ(listed["latestVersion"], 1);
  ASSERT_EQ(listed["keySets"].size(), 1u);
  EXPECT_EQ(listed["keySets"][0]["version"], 1);
  EXPECT_TRUE(VerifyKeySetSelf(listed["keySets"][0]["envelope"].get<std::string>()).ok());
  auto none = client.Get("/v1/keysets?after=1", {{"Authorization", "Bearer " + reader}});
  ASSERT_TRUE(none && none->status == 200);
  EXPECT_EQ(Json::parse(none->body)["keySets"].size(), 0u);
  EXPECT_EQ(Json::parse(none->body)["latestVersion"], 1);
}

TEST_F(KeyRotationTest, DaemonWithAKeyTheKeySetDoesNotListRefusesToStart) {
  const KeySet v1 = V1();
  ASSERT_EQ(Publish(Signed(v1)).first, 201);
  const std::string stray = SaveKey(NewKey(), "stray.pem");
  cp_.Stop();
  auto daemon = cp::Daemon::Start([&] {
    cp::DaemonOptions o;
    o.data_dir = cp_.data_dir();
    o.signing_key_file = stray;
    o.http_listen = "127.0.0.1:0";
    o.grpc_listen = "127.0.0.1:0";
    return o;
  }());
  ASSERT_FALSE(daemon.ok());
  EXPECT_EQ(daemon.status().code(), StatusCode::kConflict);
  EXPECT_NE(daemon.status().message().find("key set version 1 does not list"), std::string::npos)
      << daemon.status().message();
}

}  // namespace
}  // namespace omnirelay::relay::testing
