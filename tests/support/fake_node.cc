#include "fake_node.h"

#include <utility>

#include "omnirelay/config/scope.h"

namespace omnirelay::test_support {
namespace {

namespace v1 = controlplane::v1;

}  // namespace

FakeNode::FakeNode(std::string address, std::string token, std::string node_id, std::string chain,
                   std::vector<std::string> features)
    : token_(std::move(token)),
      node_id_(std::move(node_id)),
      chain_(std::move(chain)),
      features_(std::move(features)) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);  // a connection of its own
  channel_ = grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
  stub_ = v1::NodeFeed::NewStub(channel_);
}

FakeNode::FakeNode(int port, std::string token, std::string node_id, std::string chain,
                   std::vector<std::string> features)
    : FakeNode("127.0.0.1:" + std::to_string(port), std::move(token), std::move(node_id),
               std::move(chain), std::move(features)) {}

FakeNode::~FakeNode() {
  Close();
}

void FakeNode::Hello(std::int64_t current_version, const std::string& current_hash,
                     const std::string& as_node) {
  ctx_.AddMetadata("authorization", "Bearer " + token_);
  stream_ = stub_->Stream(&ctx_);
  v1::NodeMessage hello;
  v1::Hello* h = hello.mutable_hello();
  h->set_node_id(as_node.empty() ? node_id_ : as_node);
  for (const auto& s : SplitCommaList(chain_)) h->add_scope_chain(s);
  h->set_api_version("omnirelay.config/v1");
  for (const auto& f : features_) h->add_features(f);
  h->set_current_version(current_version);
  h->set_current_hash(current_hash);
  h->set_instance_id(instance_id_);
  stream_->Write(hello);
  reader_ = std::thread([this] {
    v1::ServerMessage m;
    while (stream_->Read(&m)) {
      MutexLock lock(mu_);
      inbox_.push_back(m);
      cv_.NotifyAll();
    }
    MutexLock lock(mu_);
    ended_ = true;
    cv_.NotifyAll();
  });
}

std::optional<v1::ServerMessage> FakeNode::Next(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  MutexLock lock(mu_);
  while (inbox_.empty() && !ended_) {
    if (!cv_.WaitUntil(mu_, deadline)) break;
  }
  if (inbox_.empty()) return std::nullopt;
  v1::ServerMessage m = std::move(inbox_.front());
  inbox_.pop_front();
  return m;
}

std::optional<v1::Notify> FakeNode::NextNotify(std::chrono::milliseconds timeout) {
  while (auto m = Next(timeout)) {
    if (m->has_notify()) return m->notify();
  }
  return std::nullopt;
}

bool FakeNode::Send(const v1::NodeMessage& m) {
  return stream_->Write(m);
}

bool FakeNode::Ack(const v1::Notify& n) {
  v1::NodeMessage m;
  m.mutable_ack()->set_version(n.version());
  m.mutable_ack()->set_hash(n.hash());
  return Send(m);
}

grpc::Status FakeNode::Close() {
  if (!stream_ || closed_) return final_;
  closed_ = true;
  stream_->WritesDone();
  if (reader_.joinable()) reader_.join();
  final_ = stream_->Finish();
  return final_;
}

grpc::Status FakeNode::WaitEnded() {
  if (reader_.joinable()) reader_.join();
  closed_ = true;
  final_ = stream_->Finish();
  return final_;
}

}  // namespace omnirelay::test_support
