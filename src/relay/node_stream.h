// NodeStream: one attempt at the control plane's node feed (gRPC
// NodeFeed.Stream on a channel of its own), for the Watcher. gRPC types stay
// in node_stream.cc.
//
// A reader thread opens the stream, writes the Hello, and queues what the
// server sends (Welcome, Notify, Error, then the end), calling `wake` after
// each event. The owner (the watcher's worker thread) takes the events, writes
// Ack/Nack/NodeStatus, and calls Fetch.
//
// Thread safety: one owner thread for every method; the reader thread is
// internal. Destruction cancels the call and joins the reader.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "client_tls.h"
#include "omnirelay/config/slo_window.h"
#include "omnirelay/config/status.h"
#include "omnirelay/relay/watcher.h"

namespace omnirelay::relay::internal {

struct StreamHello {
  std::string node_id;
  std::vector<std::string> scope_chain;
  std::string api_version;
  std::vector<std::string> features;
  std::int64_t current_version = 0;
  std::string current_hash;
  std::string instance_id;
};

struct StreamEvent {
  enum class Kind { kWelcome, kNotify, kProblem, kError, kEnded };
  Kind kind = Kind::kEnded;
  // kWelcome
  std::vector<std::string> http_endpoints;
  std::int64_t reconcile_interval_ms = 0;
  // kNotify
  std::int64_t version = 0;
  std::string hash;
  std::string envelope;  // "" when the node must Fetch(hash)
  // kProblem and kError (code: the server's stable code name) and kEnded
  // (the gRPC status)
  std::string code;
  std::string message;
  std::string path;  // kProblem: the JSON Pointer, when it has one
  // kEnded: the ErrorDetail's status name when the server sent one
  // (e.g. "superseded"), else "".
  std::string status_name;
};

struct StreamOptions {
  std::string endpoint;  // host:port
  std::string token;
  std::shared_ptr<ClientTls> tls;  // null: plaintext
  int max_receive_message_bytes = 64 << 20;
  // How long the connection (TCP, TLS, HTTP/2 settings) may take; the
  // watcher cancels a stream without Welcome at the same bound.
  std::int64_t connect_timeout_ms = 3'000;
};

// Whether a gRPC connection (TCP, TLS, HTTP/2 settings) to
// `options.endpoint` comes up within `timeout_ms`: the fail-back probe.
// Blocks; opens no call.
bool ProbeEndpoint(const StreamOptions& options, std::int64_t timeout_ms);

class NodeStream {
 public:
  NodeStream(const StreamOptions& options, StreamHello hello, std::function<void()> wake);
  ~NodeStream();
  NodeStream(const NodeStream&) = delete;
  NodeStream& operator=(const NodeStream&) = delete;

  // Moves out what arrived so far.
  std::deque<StreamEvent> TakeEvents();
  // The kEnded event was queued (it may not be taken yet).
  bool ended() const;

  // False when the stream is broken (its end follows as an event).
  bool SendAck(std::int64_t version, const std::string& hash);
  bool SendNack(std::int64_t version, const std::string& hash, const std::string& reason,
                const std::string& message);
  bool SendStatus(std::int64_t config_version, std::int64_t discovery_generation,
                  const std::string& discovery_feed_id, const std::map<std::string, double>& health,
                  const std::vector<SloReport>& slo = {});

  // NodeFeed.Fetch on this stream's channel: the signed envelope of `hash`.
  Result<std::string> Fetch(const std::string& hash, std::int64_t timeout_ms);

  // Ends the call now (from the owner thread; the end arrives as an event).
  void Cancel();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace omnirelay::relay::internal
