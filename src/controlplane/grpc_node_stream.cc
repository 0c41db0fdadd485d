#include "grpc_node_stream.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include "grpc_errors.h"
#include "node_hub.h"
#include "omnirelay/controlplane/v1/node_feed.pb.h"

namespace omnirelay::cp {

namespace v1 = controlplane::v1;

NodeStream::NodeStream(NodeHub& hub, std::string bearer_token)
    : hub_(hub), token_(std::move(bearer_token)) {}

NodeStream::~NodeStream() = default;

void NodeStream::Start() {
  StartRead(&read_buf_);
}

void NodeStream::ContinueReading() {
  {
    std::lock_guard lock(mu_);
    if (closing_ || finished_) return;
  }
  StartRead(&read_buf_);
}

std::string NodeStream::TakeToken() {
  std::lock_guard lock(mu_);
  std::string token = std::move(token_);
  token_.clear();
  token_.shrink_to_fit();
  return token;
}

void NodeStream::SetReported(std::int64_t version, std::string hash) {
  auto reported = std::make_shared<Assignment>();
  reported->version = version;
  reported->hash = std::move(hash);
  std::lock_guard lock(mu_);
  if (!assigned_) assigned_ = std::move(reported);
}

bool NodeStream::Offer(const std::shared_ptr<const Assignment>& assignment) {
  std::unique_lock lock(mu_);
  if (closing_ || finished_) return false;
  if (assigned_ &&
      (assigned_->hash == assignment->hash || assignment->version < assigned_->version)) {
    return false;
  }
  assigned_ = assignment;
  queued_notify_ = assignment;  // replaces an older one not yet sent
  Pump(std::move(lock));
  return true;
}

void NodeStream::Send(const grpc::ByteBuffer& message) {
  std::unique_lock lock(mu_);
  if (closing_ || finished_) return;
  control_.push_back(message);
  Pump(std::move(lock));
}

void NodeStream::Close(const Status& why) {
  std::unique_lock lock(mu_);
  if (closing_ || finished_) return;
  closing_ = true;
  queued_notify_.reset();
  control_.clear();
  finish_status_ = ToGrpcStatus(why);
  if (!why.ok()) control_.push_back(NodeHub::EncodeError(why));
  Pump(std::move(lock));
}

void NodeStream::Pump(std::unique_lock<std::mutex> lock) {
  if (writing_ || finished_) return;
  bool notify = false;
  if (!control_.empty()) {
    in_flight_ = std::move(control_.front());
    control_.erase(control_.begin());
  } else if (queued_notify_) {
    in_flight_ = queued_notify_->wire;
    queued_notify_.reset();
    notify = true;
  } else if (closing_) {
    finished_ = true;
    grpc::Status status = finish_status_;
    lock.unlock();
    Finish(std::move(status));
    return;
  } else {
    return;
  }
  writing_ = true;
  lock.unlock();
  // Never under mu_: the library may run OnWriteDone on this thread.
  if (notify) hub_.CountNotifySent();
  StartWrite(&in_flight_);
}

void NodeStream::OnWriteDone(bool ok) {
  std::unique_lock lock(mu_);
  writing_ = false;
  in_flight_.Clear();
  if (!ok && !closing_) {
    // The peer is gone or the call was cancelled: nothing more can be sent.
    closing_ = true;
    queued_notify_.reset();
    control_.clear();
    finish_status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed");
    hub_.CountStreamError();  // a lock-free counter
  }
  Pump(std::move(lock));
}

void NodeStream::OnReadDone(bool ok) {
  if (!ok) {
    // The node half-closed its side, or the call ended.
    Close(Status::Ok());
    return;
  }
  v1::NodeMessage message;
  grpc::Status parsed =
      grpc::SerializationTraits<v1::NodeMessage>::Deserialize(&read_buf_, &message);
  if (!parsed.ok()) {
    hub_.CountStreamError();
    Close(Status(StatusCode::kInvalidArgument, "malformed NodeMessage"));
    return;
  }
  if (!hello_seen_) {
    if (!message.has_hello()) {
      hub_.CountStreamError();
      Close(Status(StatusCode::kInvalidArgument, "the first message of a stream must be a hello"));
      return;
    }
    hello_seen_ = true;
    // The hub resumes reading (ContinueReading) once it has processed the hello.
    hub_.OnHello(shared_from_this(), std::move(*message.mutable_hello()));
    return;
  }
  switch (message.msg_case()) {
    case v1::NodeMessage::kAck:
      hub_.OnAck(*this, message.ack());
      break;
    case v1::NodeMessage::kNack:
      hub_.OnNack(*this, message.nack());
      break;
    case v1::NodeMessage::kStatus:
      hub_.OnStatus(*this, message.status());
      break;
    case v1::NodeMessage::kHello:
      hub_.CountStreamError();
      Close(Status(StatusCode::kInvalidArgument, "hello may be sent only once per stream"));
      return;
    case v1::NodeMessage::MSG_NOT_SET:
      break;  // a message kind this server does not know yet: ignored
  }
  ContinueReading();
}

void NodeStream::OnCancel() {
  hub_.CountCancelled();
}

void NodeStream::OnDone() {
  // The hub drops its reference; `self` keeps this alive to the end of the call.
  std::shared_ptr<NodeStream> self = shared_from_this();
  hub_.OnStreamDone(self);
}

}  // namespace omnirelay::cp
