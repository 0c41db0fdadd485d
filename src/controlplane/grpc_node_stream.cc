#include "grpc_node_stream.h"

#include <grpcpp/impl/codegen/proto_utils.h>

#include <utility>

#include "grpc_errors.h"
#include "omnirelay/controlplane/v1/node_feed.pb.h"

namespace omnirelay::cp {

namespace v1 = controlplane::v1;

namespace {

grpc::ByteBuffer Serialize(const v1::ServerMessage& message) {
  grpc::ByteBuffer buffer;
  bool own = false;
  (void)grpc::SerializationTraits<v1::ServerMessage>::Serialize(message, &buffer, &own);
  return buffer;
}

grpc::ByteBuffer EncodeError(const Status& why) {
  v1::ServerMessage message;
  message.mutable_error()->set_code(std::string(why.code_name()));
  message.mutable_error()->set_message(why.message());
  return Serialize(message);
}

grpc::ByteBuffer EncodeNotify(const Assignment& a, std::size_t inline_envelope_bytes) {
  v1::ServerMessage message;
  v1::Notify* notify = message.mutable_notify();
  notify->set_version(a.version);
  notify->set_hash(a.hash);
  if (a.snapshot && a.snapshot->envelope.size() <= inline_envelope_bytes) {
    notify->set_envelope(a.snapshot->envelope);
  }
  return Serialize(message);
}

HelloMsg ToHello(v1::Hello& h) {
  HelloMsg out;
  out.node_id = std::move(*h.mutable_node_id());
  out.scope_chain.assign(h.scope_chain().begin(), h.scope_chain().end());
  out.api_version = std::move(*h.mutable_api_version());
  out.features.assign(h.features().begin(), h.features().end());
  out.current_version = h.current_version();
  out.current_hash = std::move(*h.mutable_current_hash());
  out.instance_id = std::move(*h.mutable_instance_id());
  return out;
}

}  // namespace

StatusMsg ToStatus(const v1::NodeStatus& s) {
  StatusMsg out;
  out.discovery_generation = s.discovery_generation();
  out.discovery_feed_id = s.discovery_feed_id();
  out.health.assign(s.health().begin(), s.health().end());
  out.slo.reserve(static_cast<std::size_t>(s.slo_size()));
  for (const v1::SloReport& r : s.slo()) {
    SloReport report;
    report.config_version = r.config_version();
    report.window_start_ms = r.window_start_ms();
    report.window_ms = r.window_ms();
    report.window.requests = r.requests();
    report.window.errors = r.errors();
    // Buckets are positional: a list of another length has other bounds (or
    // is broken), so the counts are kept and the histogram left empty.
    if (static_cast<std::size_t>(r.latency_buckets_size()) == kLatencyBuckets) {
      for (std::size_t i = 0; i < kLatencyBuckets; ++i) {
        report.window.latency.counts[i] = r.latency_buckets(static_cast<int>(i));
      }
    }
    out.slo.push_back(report);
  }
  return out;
}

NodeStream::NodeStream(const NodeStreamContext& context) : context_(context) {}

NodeStream::~NodeStream() = default;

void NodeStream::Start(std::string bearer_token) {
  {
    MutexLock lock(mu_);
    self_ = shared_from_this();
  }
  session_ = context_.feed.Connect(shared_from_this(), std::move(bearer_token));
  if (!session_) {
    Close(Status(StatusCode::kUnavailable, "shutting down"));
    return;
  }
  StartRead(&read_buf_);
}

void NodeStream::ResumeReading() {
  {
    MutexLock lock(mu_);
    if (closing_ || finished_) return;
    // Until StartRead has returned, Pump defers a Finish: a Finish (and so
    // OnDone, which frees the call) between the check above and StartRead
    // would start a read on a finished call.
    ++starting_reads_;
  }
  StartRead(&read_buf_);
  mu_.Lock();
  --starting_reads_;
  Pump();  // releases mu_; finishes a close deferred meanwhile
}

void NodeStream::Welcome(const WelcomeMsg& welcome) {
  v1::ServerMessage message;
  for (const auto& endpoint : welcome.http_endpoints) {
    message.mutable_welcome()->add_http_endpoints(endpoint);
  }
  message.mutable_welcome()->set_reconcile_interval_ms(welcome.reconcile_interval_ms);
  Send(Serialize(message));
}

void NodeStream::Problem(const ProblemMsg& problem) {
  v1::ServerMessage message;
  message.mutable_problem()->set_code(problem.code);
  message.mutable_problem()->set_message(problem.message);
  message.mutable_problem()->set_path(problem.path);
  Send(Serialize(message));
}

void NodeStream::Notify(std::shared_ptr<const Assignment> assignment) {
  // Encoded by the first stream that sends it, outside any stream lock.
  const std::size_t inline_bytes = context_.inline_envelope_bytes;
  const grpc::ByteBuffer& wire = assignment->EncodedOnce<grpc::ByteBuffer>(
      [inline_bytes](const Assignment& a) { return EncodeNotify(a, inline_bytes); });
  mu_.Lock();
  if (closing_ || finished_) {
    mu_.Unlock();
    return;
  }
  notify_ = wire;  // shares the slices
  has_notify_ = true;
  Pump();
}

void NodeStream::Send(grpc::ByteBuffer message) {
  mu_.Lock();
  if (closing_ || finished_) {
    mu_.Unlock();
    return;
  }
  control_.push_back(std::move(message));
  Pump();
}

void NodeStream::Close(const Status& why) {
  mu_.Lock();
  if (closing_ || finished_) {
    mu_.Unlock();
    return;
  }
  closing_ = true;
  has_notify_ = false;
  notify_.Clear();
  control_.clear();
  finish_status_ = ToGrpcStatus(why);
  if (!why.ok()) control_.push_back(EncodeError(why));
  Pump();
}

void NodeStream::Pump() {
  if (writing_ || finished_) {
    mu_.Unlock();
    return;
  }
  bool notify = false;
  if (!control_.empty()) {
    in_flight_ = std::move(control_.front());
    control_.erase(control_.begin());
  } else if (has_notify_) {
    in_flight_ = std::move(notify_);
    notify_.Clear();
    has_notify_ = false;
    notify = true;
  } else if (closing_) {
    if (starting_reads_ > 0) {  // ResumeReading finishes it once its StartRead returned
      mu_.Unlock();
      return;
    }
    finished_ = true;
    grpc::Status status = finish_status_;
    mu_.Unlock();
    Finish(std::move(status));
    return;
  } else {
    mu_.Unlock();
    return;
  }
  writing_ = true;
  writing_notify_ = notify;
  mu_.Unlock();
  // Never under mu_: the library may run OnWriteDone on this thread.
  StartWrite(&in_flight_);
}

void NodeStream::OnWriteDone(bool ok) {
  mu_.Lock();
  writing_ = false;
  const bool was_notify = writing_notify_;
  writing_notify_ = false;
  in_flight_.Clear();
  if (!ok && !closing_) {
    // The peer is gone or the call was cancelled: nothing more can be sent.
    closing_ = true;
    has_notify_ = false;
    notify_.Clear();
    control_.clear();
    finish_status_ = grpc::Status(grpc::StatusCode::UNAVAILABLE, "write failed");
    context_.stream_errors.Inc();  // a lock-free counter
  }
  Pump();
  // The feed hands over its waiting Notify, if any (it calls Notify()).
  if (was_notify && ok) context_.feed.OnNotifyWritten(*session_);
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
    context_.stream_errors.Inc();
    Close(Status(StatusCode::kInvalidArgument, "malformed NodeMessage"));
    return;
  }
  if (!hello_seen_) {
    if (!message.has_hello()) {
      context_.stream_errors.Inc();
      Close(Status(StatusCode::kInvalidArgument, "the first message of a stream must be a hello"));
      return;
    }
    hello_seen_ = true;
    // The feed resumes reading (ResumeReading) once it has processed the hello.
    context_.feed.OnHello(session_, ToHello(*message.mutable_hello()));
    return;
  }
  switch (message.msg_case()) {
    case v1::NodeMessage::kAck:
      context_.feed.OnAck(*session_, AckMsg{message.ack().version(), message.ack().hash()});
      break;
    case v1::NodeMessage::kNack: {
      const v1::Nack& n = message.nack();
      context_.feed.OnNack(*session_, NackMsg{n.version(), n.hash(), n.reason(), n.message()});
      break;
    }
    case v1::NodeMessage::kStatus:
      context_.feed.OnStatus(*session_, ToStatus(message.status()));
      break;
    case v1::NodeMessage::kHello:
      context_.stream_errors.Inc();
      Close(Status(StatusCode::kInvalidArgument, "hello may be sent only once per stream"));
      return;
    case v1::NodeMessage::MSG_NOT_SET:
      break;  // a message kind this server does not know yet: ignored
  }
  ResumeReading();
}

void NodeStream::OnCancel() {
  context_.cancelled.Inc();
}

void NodeStream::OnDone() {
  if (session_) context_.feed.OnClosed(session_);
  std::shared_ptr<NodeStream> self;  // released last, after the lock
  MutexLock lock(mu_);
  self = std::move(self_);
  self_.reset();
}

}  // namespace omnirelay::cp
