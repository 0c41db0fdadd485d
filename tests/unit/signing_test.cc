#include "omnirelay/config/signing.h"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "omnirelay/config/digest.h"

namespace omnirelay {
namespace {

std::string Hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out.push_back(static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16)));
  }
  return out;
}

// RFC 8032 §7.1, TEST 1.
const std::string kRfcSeed =
    Hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
const std::string kRfcPublic =
    Hex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
const std::string kRfcSignature = Hex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9"
    "b46bd25bf5f0595bbe24655141438e7a100b");

constexpr char kEcPem[] = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQghal4muxOa6atBG0Z
K/k7aYvHIVv+TNGXk+ZP2iYkGqihRANCAAT+MRfEUN4Ulzep5XkGYGsbeKq+eg/N
WpdEActDk9+Gr0+6KJtA/vF+qB+3rCcpCpCjgeOTSqWpVaiFiqNIStVc
-----END PRIVATE KEY-----
)";

// An Ed25519 key encrypted with the passphrase "secret".
constexpr char kEncryptedPem[] = R"(-----BEGIN ENCRYPTED PRIVATE KEY-----
MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAhdAi7/7FfySQICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEPYZ/L83nKqxt5zuxWGzdF4EQLmR
xSlawXSfd+ayVwW0B7vY+W0f7eu0xnT3Rk2MgPdwo3+M2JAewCyWpYcvr3dcTad3
A84xS41M+XqJIQowq1k=
-----END ENCRYPTED PRIVATE KEY-----
)";

SigningKey KeyFromSeedByte(char fill) {
  return std::move(SigningKey::FromSeed(std::string(32, fill))).value();
}

// A JSON string literal for test envelopes (inputs here need no escaping).
std::string Quote(std::string_view s) {
  return "\"" + std::string(s) + "\"";
}

std::string EnvelopeJson(std::string_view payload_type, std::string_view payload_b64,
                         std::string_view signatures_json) {
  return "{\"payloadType\":" + Quote(payload_type) + ",\"payload\":" + Quote(payload_b64) +
         ",\"signatures\":" + std::string(signatures_json) + "}";
}

std::string SignatureJson(std::string_view key_id, std::string_view sig) {
  return "{\"keyid\":" + Quote(key_id) + ",\"sig\":" + Quote(Base64Encode(sig)) + "}";
}

std::string Pae(std::string_view type, std::string_view body) {
  return "DSSEv1 " + std::to_string(type.size()) + " " + std::string(type) + " " +
         std::to_string(body.size()) + " " + std::string(body);
}

class TempDir {
 public:
  TempDir() {
    std::string tmpl = ::testing::TempDir() + "signing_test.XXXXXX";
    const char* made = ::mkdtemp(tmpl.data());
    EXPECT_NE(made, nullptr);
    path_ = tmpl;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  std::string File(std::string_view name) const { return path_ + "/" + std::string(name); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class SigningTest : public ::testing::Test {
 protected:
  SigningTest() : key_(KeyFromSeedByte('k')), other_(KeyFromSeedByte('o')) {
    EXPECT_TRUE(trusted_.Add(key_.public_key_raw()).ok());
  }

  std::string Signed(std::string_view payload) {
    Result<std::string> env = SignEnvelope(key_, kSnapshotPayloadType, payload);
    EXPECT_TRUE(env.ok()) << env.status().ToString();
    return env.ok() ? *env : std::string();
  }

  StatusCode VerifyCode(std::string_view envelope) {
    return VerifyEnvelope(envelope, trusted_, kSnapshotPayloadType).status().code();
  }

  SigningKey key_;
  SigningKey other_;
  TrustedKeySet trusted_;
};

// ---------------------------------------------------------------------------
// Keys.

// A key from the RFC 8032 test seed has the RFC's public key and signature.
TEST(SigningKeyTest, FromSeedMatchesRfc8032Vector) {
  Result<SigningKey> key = SigningKey::FromSeed(kRfcSeed);
  ASSERT_TRUE(key.ok()) << key.status().ToString();
  EXPECT_EQ(key->public_key_raw(), kRfcPublic);
  Result<std::string> sig = key->Sign("");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(*sig, kRfcSignature);
}

// A seed that is not 32 bytes is refused.
TEST(SigningKeyTest, FromSeedRejectsWrongLength) {
  EXPECT_EQ(SigningKey::FromSeed(std::string(31, 'x')).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(SigningKey::FromSeed("").status().code(), StatusCode::kInvalidArgument);
}

// A key id is "ed25519:" + the first 16 bytes of SHA-256(public key) in lowercase hex.
TEST(SigningKeyTest, KeyIdFormat) {
  const std::string id = KeyIdFor(kRfcPublic);
  EXPECT_EQ(id, "ed25519:" + Sha256Hex(kRfcPublic).substr(0, 32));
  ASSERT_EQ(id.size(), 8u + 32u);
  EXPECT_EQ(id.find_first_not_of("0123456789abcdef", 8), std::string::npos);
  EXPECT_EQ(SigningKey::FromSeed(kRfcSeed)->key_id(), id);
}

// Generated keys are distinct, 32-byte public keys with 64-byte signatures.
TEST(SigningKeyTest, GenerateMakesDistinctKeys) {
  Result<SigningKey> a = SigningKey::Generate();
  Result<SigningKey> b = SigningKey::Generate();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->public_key_raw().size(), 32u);
  EXPECT_NE(a->key_id(), b->key_id());
  Result<std::string> sig = a->Sign("message");
  ASSERT_TRUE(sig.ok());
  EXPECT_EQ(sig->size(), 64u);
}

// A generated key's envelope verifies against a set trusting its public key.
TEST(SigningKeyTest, GeneratedKeySignsVerifiably) {
  Result<SigningKey> key = SigningKey::Generate();
  ASSERT_TRUE(key.ok());
  TrustedKeySet trusted;
  ASSERT_TRUE(trusted.Add(key->public_key_raw()).ok());
  Result<std::string> env = SignEnvelope(*key, kSnapshotPayloadType, "{}");
  ASSERT_TRUE(env.ok());
  Result<VerifiedPayload> verified = VerifyEnvelope(*env, trusted, kSnapshotPayloadType);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->key_id, key->key_id());
}

// SavePem writes a file of mode 0600 that LoadPem reads back as the same key.
TEST(SigningKeyTest, PemSaveLoadRoundTripWithMode0600) {
  TempDir dir;
  Result<SigningKey> key = SigningKey::Generate();
  ASSERT_TRUE(key.ok());
  const std::string path = dir.File("signing.pem");
  ASSERT_TRUE(key->SavePem(path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  Result<SigningKey> loaded = SigningKey::LoadPem(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->key_id(), key->key_id());
  EXPECT_EQ(*loaded->Sign("m"), *key->Sign("m"));
}

// The saved PEM is unencrypted PKCS#8.
TEST(SigningKeyTest, SavePemWritesPkcs8) {
  TempDir dir;
  const std::string path = dir.File("k.pem");
  ASSERT_TRUE(KeyFromSeedByte('p').SavePem(path).ok());
  std::ifstream in(path);
  std::string first;
  std::getline(in, first);
  EXPECT_EQ(first, "-----BEGIN PRIVATE KEY-----");
}

// Saving over a world-readable file replaces it with a 0600 file and leaves no temporaries.
TEST(SigningKeyTest, SavePemReplacesExistingFileAtomically) {
  TempDir dir;
  const std::string path = dir.File("signing.pem");
  { std::ofstream(path) << "old"; }
  ASSERT_EQ(::chmod(path.c_str(), 0644), 0);
  ASSERT_TRUE(KeyFromSeedByte('r').SavePem(path).ok());
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(SigningKey::LoadPem(path)->key_id(), KeyFromSeedByte('r').key_id());
  int entries = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++entries;
  EXPECT_EQ(entries, 1);
}

// Saving into a directory that does not exist fails with io_error.
TEST(SigningKeyTest, SavePemToMissingDirectoryFails) {
  TempDir dir;
  Status s = KeyFromSeedByte('s').SavePem(dir.File("no/such/dir/k.pem"));
  EXPECT_EQ(s.code(), StatusCode::kIoError);
}

// Loading a file that does not exist fails with io_error.
TEST(SigningKeyTest, LoadPemMissingFileFails) {
  TempDir dir;
  EXPECT_EQ(SigningKey::LoadPem(dir.File("absent.pem")).status().code(), StatusCode::kIoError);
}

// Text that is not PEM is refused cleanly.
TEST(SigningKeyTest, FromPemRejectsGarbage) {
  EXPECT_EQ(SigningKey::FromPem("not a key").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SigningKey::FromPem("").status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(SigningKey::FromPem("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
                .status()
                .code(),
            StatusCode::kInvalidArgument);
}

// A PEM private key of another algorithm (P-256) is refused as not Ed25519.
TEST(SigningKeyTest, FromPemRejectsNonEd25519Key) {
  Result<SigningKey> key = SigningKey::FromPem(kEcPem);
  ASSERT_FALSE(key.ok());
  EXPECT_EQ(key.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(key.status().message().find("not an ed25519 key"), std::string::npos);
}

// An encrypted PEM is refused without prompting for a passphrase.
TEST(SigningKeyTest, FromPemRejectsEncryptedKeyWithoutPrompting) {
  EXPECT_EQ(SigningKey::FromPem(kEncryptedPem).status().code(), StatusCode::kInvalidArgument);
}

// A moved-from key refuses to sign instead of crashing.
TEST(SigningKeyTest, MovedFromKeyDoesNotSign) {
  SigningKey key = KeyFromSeedByte('m');
  SigningKey taken = std::move(key);
  EXPECT_TRUE(taken.Sign("x").ok());
  EXPECT_FALSE(key.Sign("x").ok());  // NOLINT(bugprone-use-after-move): the behaviour under test
}

// ---------------------------------------------------------------------------
// Trusted key set.

// Added keys are found by their derived id, unrevoked.
TEST(TrustedKeySetTest, AddThenFind) {
  TrustedKeySet set;
  ASSERT_TRUE(set.Add(kRfcPublic).ok());
  const TrustedKey* key = set.Find(KeyIdFor(kRfcPublic));
  ASSERT_NE(key, nullptr);
  EXPECT_EQ(key->public_key, kRfcPublic);
  EXPECT_FALSE(key->revoked);
  EXPECT_EQ(set.Find("ed25519:00000000000000000000000000000000"), nullptr);
}

// A public key that is not 32 bytes is refused.
TEST(TrustedKeySetTest, AddRejectsWrongLength) {
  TrustedKeySet set;
  EXPECT_EQ(set.Add(std::string(31, 'a')).code(), StatusCode::kInvalidArgument);
  EXPECT_TRUE(set.keys().empty());
}

// Adding a listed key is a conflict, and never un-revokes it.
TEST(TrustedKeySetTest, AddDuplicateConflictsAndKeepsRevocation) {
  TrustedKeySet set;
  ASSERT_TRUE(set.Add(kRfcPublic).ok());
  EXPECT_EQ(set.Add(kRfcPublic).code(), StatusCode::kConflict);
  ASSERT_TRUE(set.Revoke(KeyIdFor(kRfcPublic)).ok());
  EXPECT_EQ(set.Add(kRfcPublic).code(), StatusCode::kConflict);
  EXPECT_TRUE(set.Find(KeyIdFor(kRfcPublic))->revoked);
  EXPECT_EQ(set.keys().size(), 1u);
}

// Revoking marks the key; revoking an unlisted id is not_found.
TEST(TrustedKeySetTest, Revoke) {
  TrustedKeySet set;
  ASSERT_TRUE(set.Add(kRfcPublic).ok());
  ASSERT_TRUE(set.Revoke(KeyIdFor(kRfcPublic)).ok());
  EXPECT_TRUE(set.Find(KeyIdFor(kRfcPublic))->revoked);
  EXPECT_EQ(set.Revoke("ed25519:ffffffffffffffffffffffffffffffff").code(), StatusCode::kNotFound);
}

// ToJson writes the documented format, which FromJson reads back identically.
TEST(TrustedKeySetTest, JsonRoundTrip) {
  TrustedKeySet set;
  ASSERT_TRUE(set.Add(kRfcPublic).ok());
  ASSERT_TRUE(set.Add(KeyFromSeedByte('b').public_key_raw()).ok());
  ASSERT_TRUE(set.Revoke(KeyIdFor(kRfcPublic)).ok());
  const std::string json = set.ToJson();
  EXPECT_NE(json.find("\"algorithm\": \"ed25519\""), std::string::npos);
  EXPECT_NE(json.find("\"publicKey\": \"" + Base64Encode(kRfcPublic) + "\""), std::string::npos);
  Result<TrustedKeySet> back = TrustedKeySet::FromJson(json);
  ASSERT_TRUE(back.ok()) << back.status().ToString();
  ASSERT_EQ(back->keys().size(), 2u);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(back->keys()[i].key_id, set.keys()[i].key_id);
    EXPECT_EQ(back->keys()[i].public_key, set.keys()[i].public_key);
    EXPECT_EQ(back->keys()[i].revoked, set.keys()[i].revoked);
  }
  EXPECT_EQ(back->ToJson(), json);
}

// An empty key list is a valid (if useless) set.
TEST(TrustedKeySetTest, EmptyListIsValid) {
  Result<TrustedKeySet> set = TrustedKeySet::FromJson(R"({"keys":[]})");
  ASSERT_TRUE(set.ok());
  EXPECT_TRUE(set->keys().empty());
}

// "revoked" may be omitted and then means false.
TEST(TrustedKeySetTest, RevokedDefaultsToFalse) {
  const std::string json = R"({"keys":[{"keyId":")" + KeyIdFor(kRfcPublic) +
                           R"(","algorithm":"ed25519","publicKey":")" + Base64Encode(kRfcPublic) +
                           R"("}]})";
  Result<TrustedKeySet> set = TrustedKeySet::FromJson(json);
  ASSERT_TRUE(set.ok()) << set.status().ToString();
  EXPECT_FALSE(set->keys()[0].revoked);
}

// Builds a one-entry trusted-keys.json with fields overridden as raw JSON text.
std::string KeyFile(std::string key_id, std::string algorithm, std::string public_key,
                    std::string extra = "") {
  return R"({"keys":[{"keyId":)" + key_id + R"(,"algorithm":)" + algorithm + R"(,"publicKey":)" +
         public_key + R"(,"revoked":false)" + extra + "}]}";
}

// Expects FromJson to fail with kInvalid and one diagnostic of `code` at `path`.
void ExpectKeyFileRejected(const std::string& json, DiagCode code, const std::string& path) {
  Result<TrustedKeySet> set = TrustedKeySet::FromJson(json);
  ASSERT_FALSE(set.ok()) << json;
  EXPECT_EQ(set.status().code(), StatusCode::kInvalid);
  ASSERT_EQ(set.status().diagnostics().size(), 1u) << set.status().ToString();
  EXPECT_EQ(set.status().diagnostics()[0].code, code) << set.status().ToString();
  EXPECT_EQ(set.status().diagnostics()[0].path, path) << set.status().ToString();
}

// A keyId that is not the id of its public key is rejected.
TEST(TrustedKeySetTest, RejectsKeyIdMismatch) {
  ExpectKeyFileRejected(KeyFile(Quote(KeyIdFor(std::string(32, 'z'))), Quote("ed25519"),
                                Quote(Base64Encode(kRfcPublic))),
                        DiagCode::kInvalidName, "/keys/0/keyId");
}

// An algorithm other than ed25519 is rejected.
TEST(TrustedKeySetTest, RejectsUnknownAlgorithm) {
  ExpectKeyFileRejected(
      KeyFile(Quote(KeyIdFor(kRfcPublic)), Quote("rsa"), Quote(Base64Encode(kRfcPublic))),
      DiagCode::kOutOfRange, "/keys/0/algorithm");
}

// A public key that is not 32 bytes is rejected.
TEST(TrustedKeySetTest, RejectsWrongKeyLength) {
  const std::string short_key = kRfcPublic.substr(0, 31);
  ExpectKeyFileRejected(
      KeyFile(Quote(KeyIdFor(short_key)), Quote("ed25519"), Quote(Base64Encode(short_key))),
      DiagCode::kOutOfRange, "/keys/0/publicKey");
}

// A public key that is not strict base64 is rejected.
TEST(TrustedKeySetTest, RejectsInvalidBase64Key) {
  ExpectKeyFileRejected(
      KeyFile(Quote(KeyIdFor(kRfcPublic)), Quote("ed25519"), Quote("not base64!")),
      DiagCode::kOutOfRange, "/keys/0/publicKey");
}

// The same key listed twice is rejected.
TEST(TrustedKeySetTest, RejectsDuplicateKeyIds) {
  const std::string entry = R"({"keyId":")" + KeyIdFor(kRfcPublic) +
                            R"(","algorithm":"ed25519","publicKey":")" + Base64Encode(kRfcPublic) +
                            R"("})";
  ExpectKeyFileRejected(R"({"keys":[)" + entry + "," + entry + "]}", DiagCode::kInvalidName,
                        "/keys/1/keyId");
}

// An unknown field in a key entry is rejected.
TEST(TrustedKeySetTest, RejectsUnknownEntryField) {
  ExpectKeyFileRejected(KeyFile(Quote(KeyIdFor(kRfcPublic)), Quote("ed25519"),
                                Quote(Base64Encode(kRfcPublic)), R"(,"comment":"x")"),
                        DiagCode::kUnknownField, "/keys/0/comment");
}

// An unknown top-level field is rejected.
TEST(TrustedKeySetTest, RejectsUnknownTopLevelField) {
  ExpectKeyFileRejected(R"({"keys":[],"version":1})", DiagCode::kUnknownField, "/version");
}

// A missing required field is rejected.
TEST(TrustedKeySetTest, RejectsMissingField) {
  ExpectKeyFileRejected(R"({"keys":[{"keyId":"x","algorithm":"ed25519"}]})",
                        DiagCode::kMissingField, "/keys/0/publicKey");
  ExpectKeyFileRejected(R"({})", DiagCode::kMissingField, "/keys");
}

// Fields of the wrong JSON type are rejected.
TEST(TrustedKeySetTest, RejectsWrongTypes) {
  ExpectKeyFileRejected(R"({"keys":{}})", DiagCode::kTypeMismatch, "/keys");
  ExpectKeyFileRejected(R"({"keys":[1]})", DiagCode::kTypeMismatch, "/keys/0");
  ExpectKeyFileRejected(KeyFile("7", Quote("ed25519"), Quote(Base64Encode(kRfcPublic))),
                        DiagCode::kTypeMismatch, "/keys/0/keyId");
  ExpectKeyFileRejected(R"({"keys":[{"revoked":"no"}]})", DiagCode::kTypeMismatch,
                        "/keys/0/revoked");
  ExpectKeyFileRejected(R"([])", DiagCode::kTypeMismatch, "");
}

// Text that is not strict JSON (syntax, duplicate object keys) is rejected.
TEST(TrustedKeySetTest, RejectsInvalidJson) {
  ExpectKeyFileRejected(R"({"keys":[)", DiagCode::kParseError, "");
  ExpectKeyFileRejected(R"({"keys":[],"keys":[]})", DiagCode::kParseError, "/keys");
}

// Save writes a file Load reads back; Load of a missing file is io_error.
TEST(TrustedKeySetTest, SaveLoadRoundTrip) {
  TempDir dir;
  TrustedKeySet set;
  ASSERT_TRUE(set.Add(kRfcPublic).ok());
  const std::string path = dir.File("trusted-keys.json");
  ASSERT_TRUE(set.Save(path).ok());
  Result<TrustedKeySet> loaded = TrustedKeySet::Load(path);
  ASSERT_TRUE(loaded.ok()) << loaded.status().ToString();
  EXPECT_EQ(loaded->ToJson(), set.ToJson());
  EXPECT_EQ(TrustedKeySet::Load(dir.File("absent.json")).status().code(), StatusCode::kIoError);
}

// ---------------------------------------------------------------------------
// Envelopes.

// A signed envelope verifies and yields the exact payload and the signer's key id.
TEST_F(SigningTest, EnvelopeRoundTrip) {
  const std::string payload = R"({"apiVersion":"omnirelay.config/v1","kind":"Snapshot"})";
  Result<VerifiedPayload> verified =
      VerifyEnvelope(Signed(payload), trusted_, kSnapshotPayloadType);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->payload, payload);
  EXPECT_EQ(verified->key_id, key_.key_id());
}

// Arbitrary binary payloads (every byte value) and the empty payload round trip.
TEST_F(SigningTest, EnvelopeRoundTripBinaryAndEmptyPayloads) {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  for (const std::string& payload : {all, std::string()}) {
    Result<VerifiedPayload> verified =
        VerifyEnvelope(Signed(payload), trusted_, kSnapshotPayloadType);
    ASSERT_TRUE(verified.ok()) << verified.status().ToString();
    EXPECT_EQ(verified->payload, payload);
  }
}

// The envelope is compact DSSE JSON whose signature is over PAE(type, payload).
TEST_F(SigningTest, EnvelopeSignsDssePae) {
  const std::string env = Signed("hello");
  const std::string sig = *key_.Sign(Pae(kSnapshotPayloadType, "hello"));
  EXPECT_EQ(env, EnvelopeJson(kSnapshotPayloadType, Base64Encode("hello"),
                              "[" + SignatureJson(key_.key_id(), sig) + "]"));
  EXPECT_EQ(Pae(kSnapshotPayloadType, "hello"),
            "DSSEv1 39 application/vnd.omnirelay.snapshot+json 5 hello");
}

// JSON whitespace around the fields does not matter; the payload bytes do.
TEST_F(SigningTest, EnvelopeWhitespaceIsIrrelevant) {
  const std::string sig = *key_.Sign(Pae(kSnapshotPayloadType, "x"));
  const std::string env = "{ \"payloadType\" : " + Quote(kSnapshotPayloadType) +
                          ",\n  \"payload\": " + Quote(Base64Encode("x")) +
                          ",\n  \"signatures\": [ " + SignatureJson(key_.key_id(), sig) + " ]\n}\n";
  EXPECT_EQ(VerifyCode(env), StatusCode::kOk);
}

// An envelope of another payload type is refused.
TEST_F(SigningTest, WrongPayloadTypeRejected) {
  Result<std::string> env = SignEnvelope(key_, "application/json", "{}");
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(VerifyCode(*env), StatusCode::kInvalidArgument);
}

// A signature by a key outside the trusted set is unknown_key.
TEST_F(SigningTest, UnknownKeyRejected) {
  Result<std::string> env = SignEnvelope(other_, kSnapshotPayloadType, "{}");
  ASSERT_TRUE(env.ok());
  EXPECT_EQ(VerifyCode(*env), StatusCode::kUnknownKey);
}

// A signature by a revoked key is revoked_key, even though it is valid.
TEST_F(SigningTest, RevokedKeyRejected) {
  const std::string env = Signed("{}");
  ASSERT_TRUE(trusted_.Revoke(key_.key_id()).ok());
  EXPECT_EQ(VerifyCode(env), StatusCode::kRevokedKey);
}

// A payload changed after signing is bad_signature.
TEST_F(SigningTest, TamperedPayloadRejected) {
  const std::string sig = *key_.Sign(Pae(kSnapshotPayloadType, "{\"v\":1}"));
  const std::string env = EnvelopeJson(kSnapshotPayloadType, Base64Encode("{\"v\":2}"),
                                       "[" + SignatureJson(key_.key_id(), sig) + "]");
  EXPECT_EQ(VerifyCode(env), StatusCode::kBadSignature);
}

// A signature with one bit flipped is bad_signature.
TEST_F(SigningTest, TamperedSignatureRejected) {
  std::string sig = *key_.Sign(Pae(kSnapshotPayloadType, "{}"));
  sig[10] = static_cast<char>(sig[10] ^ 0x01);
  const std::string env = EnvelopeJson(kSnapshotPayloadType, Base64Encode("{}"),
                                       "[" + SignatureJson(key_.key_id(), sig) + "]");
  EXPECT_EQ(VerifyCode(env), StatusCode::kBadSignature);
}

// A signature of the wrong length by a trusted key id is bad_signature.
TEST_F(SigningTest, TruncatedSignatureRejected) {
  const std::string sig = *key_.Sign(Pae(kSnapshotPayloadType, "{}"));
  const std::string env = EnvelopeJson(kSnapshotPayloadType, Base64Encode("{}"),
                                       "[" + SignatureJson(key_.key_id(), sig.substr(0, 63)) + "]");
  EXPECT_EQ(VerifyCode(env), StatusCode::kBadSignature);
}

// Another key's valid signature presented under a trusted key id is bad_signature.
TEST_F(SigningTest, SignatureUnderWrongKeyIdRejected) {
  const std::string sig = *other_.Sign(Pae(kSnapshotPayloadType, "{}"));
  const std::string env = EnvelopeJson(kSnapshotPayloadType, Base64Encode("{}"),
                                       "[" + SignatureJson(key_.key_id(), sig) + "]");
  EXPECT_EQ(VerifyCode(env), StatusCode::kBadSignature);
}

// An envelope lacking any of its three fields is malformed.
TEST_F(SigningTest, MissingFieldsRejected) {
  const std::string sigs =
      "[" + SignatureJson(key_.key_id(), *key_.Sign(Pae(kSnapshotPayloadType, "{}"))) + "]";
  const std::string type = "\"payloadType\":" + Quote(kSnapshotPayloadType);
  const std::string payload = "\"payload\":" + Quote(Base64Encode("{}"));
  const std::string signatures = "\"signatures\":" + sigs;
  EXPECT_EQ(VerifyCode("{" + payload + "," + signatures + "}"), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode("{" + type + "," + signatures + "}"), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode("{" + type + "," + payload + "}"), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode("{" + type + "," + payload + "," + signatures + "}"), StatusCode::kOk);
}

// A signature entry lacking keyid or sig is malformed.
TEST_F(SigningTest, SignatureMissingFieldsRejected) {
  const std::string b64 = Base64Encode("{}");
  EXPECT_EQ(VerifyCode(EnvelopeJson(kSnapshotPayloadType, b64, R"([{"keyid":"a"}])")),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(EnvelopeJson(kSnapshotPayloadType, b64, R"([{"sig":"AAAA"}])")),
            StatusCode::kInvalidArgument);
}

// Unknown fields at the top level or in a signature are malformed.
TEST_F(SigningTest, ExtraFieldsRejected) {
  const std::string env = Signed("{}");
  std::string extra_top = env;
  extra_top.insert(env.size() - 1, ",\"comment\":\"x\"");
  EXPECT_EQ(VerifyCode(extra_top), StatusCode::kInvalidArgument);
  std::string extra_sig = env;
  extra_sig.insert(env.size() - 3, ",\"cert\":null");
  EXPECT_EQ(VerifyCode(extra_sig), StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(env), StatusCode::kOk);
}

// A duplicated object key in the envelope JSON is malformed, even if both agree.
TEST_F(SigningTest, DuplicateJsonKeyRejected) {
  const std::string env = Signed("{}");
  std::string duplicated = env;
  duplicated.insert(1, "\"payload\":" + Quote(Base64Encode("{}")) + ",");
  EXPECT_EQ(VerifyCode(duplicated), StatusCode::kInvalidArgument);
}

// Fields of the wrong JSON type are malformed.
TEST_F(SigningTest, WrongFieldTypesRejected) {
  const std::string b64 = Base64Encode("{}");
  EXPECT_EQ(VerifyCode(R"({"payloadType":1,"payload":"","signatures":[]})"),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(EnvelopeJson(kSnapshotPayloadType, b64, "{}")),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(EnvelopeJson(kSnapshotPayloadType, b64, "[1]")),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(EnvelopeJson(kSnapshotPayloadType, b64, R"([{"keyid":1,"sig":"AA=="}])")),
            StatusCode::kInvalidArgument);
}

// Input that is not a JSON object, or not JSON at all, is malformed.
TEST_F(SigningTest, NonObjectOrInvalidJsonRejected) {
  for (const char* text : {"", "[]", "null", "\"x\"", "{", "{\"payloadType\":}", "\xff"}) {
    EXPECT_EQ(VerifyCode(text), StatusCode::kInvalidArgument) << text;
  }
}

// Nesting deeper than 16 levels is malformed.
TEST_F(SigningTest, DeepNestingRejected) {
  const std::string deep = std::string(40, '[') + std::string(40, ']');
  std::string env = Signed("{}");
  env.insert(env.size() - 1, ",\"x\":" + deep);
  Status status = VerifyEnvelope(env, trusted_, kSnapshotPayloadType).status();
  EXPECT_EQ(status.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("nesting"), std::string::npos) << status.ToString();
}

// An empty signature list is malformed.
TEST_F(SigningTest, NoSignaturesRejected) {
  EXPECT_EQ(VerifyCode(EnvelopeJson(kSnapshotPayloadType, Base64Encode("{}"), "[]")),
            StatusCode::kInvalidArgument);
}

// More than 16 signatures are refused before any verification work.
TEST_F(SigningTest, TooManySignaturesRejected) {
  const std::string one = SignatureJson(key_.key_id(), *key_.Sign(Pae(kSnapshotPayloadType, "{}")));
  std::string list = "[" + one;
  for (int i = 0; i < 16; ++i) list += "," + one;
  list += "]";
  EXPECT_EQ(VerifyCode(EnvelopeJson(kSnapshotPayloadType, Base64Encode("{}"), list)),
            StatusCode::kInvalidArgument);
}

// A payload or signature that is not strict base64 is malformed.
TEST_F(SigningTest, InvalidBase64Rejected) {
  const std::string sig = *key_.Sign(Pae(kSnapshotPayloadType, "{}"));
  EXPECT_EQ(VerifyCode(EnvelopeJson(kSnapshotPayloadType, "e30",
                                    "[" + SignatureJson(key_.key_id(), sig) + "]")),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(VerifyCode(EnvelopeJson(kSnapshotPayloadType, Base64Encode("{}"),
                                    R"([{"keyid":")" + key_.key_id() + R"(","sig":"@@@@"}])")),
            StatusCode::kInvalidArgument);
}

// An envelope over the size limit is too_large.
TEST_F(SigningTest, OversizedEnvelopeRejected) {
  const std::string env = Signed(std::string(1000, 'a'));
  EXPECT_EQ(VerifyEnvelope(env, trusted_, kSnapshotPayloadType, env.size() - 1).status().code(),
            StatusCode::kTooLarge);
  EXPECT_TRUE(VerifyEnvelope(env, trusted_, kSnapshotPayloadType, env.size()).ok());
}

// An envelope larger than the reused per-thread parse buffer (4 MiB) verifies too.
TEST_F(SigningTest, LargeEnvelopeVerifies) {
  const std::string payload(5 << 20, 'p');
  Result<VerifiedPayload> verified =
      VerifyEnvelope(Signed(payload), trusted_, kSnapshotPayloadType);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->payload, payload);
}

// One unknown-key signature next to a good one: the envelope is accepted.
TEST_F(SigningTest, UnknownPlusGoodSignatureAccepted) {
  const std::string pae = Pae(kSnapshotPayloadType, "{}");
  const std::string env =
      EnvelopeJson(kSnapshotPayloadType, Base64Encode("{}"),
                   "[" + SignatureJson(other_.key_id(), *other_.Sign(pae)) + "," +
                       SignatureJson(key_.key_id(), *key_.Sign(pae)) + "]");
  Result<VerifiedPayload> verified = VerifyEnvelope(env, trusted_, kSnapshotPayloadType);
  ASSERT_TRUE(verified.ok()) << verified.status().ToString();
  EXPECT_EQ(verified->key_id, key_.key_id());
}

// With no good signature the most specific failure is reported:
// bad_signature beats revoked_key beats unknown_key, whatever the order.
TEST_F(SigningTest, MostSpecificFailureReported) {
  SigningKey revoked = KeyFromSeedByte('v');
  ASSERT_TRUE(trusted_.Add(revoked.public_key_raw()).ok());
  ASSERT_TRUE(trusted_.Revoke(revoked.key_id()).ok());
  const std::string pae = Pae(kSnapshotPayloadType, "{}");
  const std::string unknown_sig = SignatureJson(other_.key_id(), *other_.Sign(pae));
  const std::string revoked_sig = SignatureJson(revoked.key_id(), *revoked.Sign(pae));
  const std::string bad_sig = SignatureJson(key_.key_id(), *key_.Sign("not the pae"));
  auto code = [&](const std::string& list) {
    return VerifyCode(EnvelopeJson(kSnapshotPayloadType, Base64Encode("{}"), "[" + list + "]"));
  };
  EXPECT_EQ(code(unknown_sig + "," + revoked_sig), StatusCode::kRevokedKey);
  EXPECT_EQ(code(revoked_sig + "," + unknown_sig), StatusCode::kRevokedKey);
  EXPECT_EQ(code(bad_sig + "," + revoked_sig + "," + unknown_sig), StatusCode::kBadSignature);
  EXPECT_EQ(code(unknown_sig + "," + revoked_sig + "," + bad_sig), StatusCode::kBadSignature);
}

// A payload type that is not valid UTF-8 is refused by SignEnvelope, not thrown.
TEST_F(SigningTest, SignRejectsInvalidUtf8PayloadType) {
  EXPECT_EQ(SignEnvelope(key_, "bad\xff", "{}").status().code(), StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace omnirelay
