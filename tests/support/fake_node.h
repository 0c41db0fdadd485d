// FakeNode: a raw node on the control plane's node feed, built on the
// generated gRPC stub (what a relay node speaks, without the relay library):
// its own channel (connection), one bidi stream, and a reader thread queueing
// what the server sends. The one fake node client of the tests.
//
//   FakeNode node("127.0.0.1:7443", token, "n-1", "global,region:eu-west");
//   node.Hello();
//   auto notify = node.NextNotify();
//   node.Ack(*notify);
//
// Thread safety: one test thread drives it; the reader thread is internal.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "omnirelay/config/mutex.h"
#include "omnirelay/controlplane/v1/node_feed.grpc.pb.h"

namespace omnirelay::test_support {

class FakeNode {
 public:
  static constexpr std::chrono::milliseconds kWait = std::chrono::seconds(20);

  // `chain` is comma-separated; `features` go into the Hello.
  FakeNode(std::string address, std::string token, std::string node_id, std::string chain,
           std::vector<std::string> features = {"shadowing"});
  FakeNode(int port, std::string token, std::string node_id, std::string chain,
           std::vector<std::string> features = {"shadowing"});
  ~FakeNode();
  FakeNode(const FakeNode&) = delete;
  FakeNode& operator=(const FakeNode&) = delete;

  const std::string& id() const { return node_id_; }
  // The instance id the next Hello carries ("" by default, as older nodes).
  void set_instance_id(std::string instance_id) { instance_id_ = std::move(instance_id); }

  // Opens the stream and says hello (as `as_node` when given).
  void Hello(std::int64_t current_version = 0, const std::string& current_hash = "",
             const std::string& as_node = "");

  // The next message from the server, or nullopt when the stream ended or
  // nothing came within `timeout`.
  std::optional<controlplane::v1::ServerMessage> Next(std::chrono::milliseconds timeout = kWait);
  // The next Notify, skipping the Welcome.
  std::optional<controlplane::v1::Notify> NextNotify(std::chrono::milliseconds timeout = kWait);

  bool Send(const controlplane::v1::NodeMessage& m);
  bool Ack(const controlplane::v1::Notify& n);

  // Half-closes and waits for the server's status.
  grpc::Status Close();
  // Waits for the server to end the stream and returns its status.
  grpc::Status WaitEnded();

  controlplane::v1::NodeFeed::Stub& stub() { return *stub_; }
  const std::string& token() const { return token_; }

 private:
  using Stream =
      grpc::ClientReaderWriter<controlplane::v1::NodeMessage, controlplane::v1::ServerMessage>;

  const std::string token_, node_id_, chain_;
  const std::vector<std::string> features_;
  std::string instance_id_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<controlplane::v1::NodeFeed::Stub> stub_;
  grpc::ClientContext ctx_;
  std::unique_ptr<Stream> stream_;  // set by Hello, before the reader starts
  std::thread reader_;
  bool closed_ = false;
  grpc::Status final_;

  Mutex mu_;
  CondVar cv_;
  std::deque<controlplane::v1::ServerMessage> inbox_ GUARDED_BY(mu_);
  bool ended_ GUARDED_BY(mu_) = false;
};

}  // namespace omnirelay::test_support
