#include "sidecar/data_plane_server.h"

#include <grpc/grpc_security_constants.h>
#include <grpcpp/security/auth_context.h>

#include <chrono>
#include <condition_variable>
#include <deque>
#include <mutex>
#include <set>
#include <thread>

#include "absl/strings/str_cat.h"
#include "control/credentials.h"
#include "sidecar/gateway.h"
#include "sidecar/result_board.h"
#include "sidecar/worker_server.h"

namespace geostorm::sidecar {
namespace {

// The DCs the client certificate of a TLS connection names; anyone over plaintext.
Dialler DiallerOf(const grpc::ServerContext& context, const std::string& job) {
  const std::shared_ptr<const grpc::AuthContext> auth = context.auth_context();
  if (!auth || !auth->IsPeerAuthenticated()) return {};
  std::vector<std::string> names;
  for (const grpc::string_ref& name : auth->FindPropertyValues(GRPC_X509_SAN_PROPERTY_NAME)) {
    names.emplace_back(name.data(), name.size());
  }
  return {false, control::DataCentersNamed(job, names)};
}

}  // namespace

grpc::Status DataPlaneServer::Exchange(grpc::ServerContext* context,
                                       grpc::ServerReaderWriter<v1::Ack, wire::WireChunk>* stream) {
  const Dialler from = DiallerOf(*context, config_.job);
  wire::WireChunk chunk;
  while (stream->Read(&chunk)) {
    const auto received = std::chrono::steady_clock::now().time_since_epoch();
    const absl::Status s = gateway_->OnWireChunk(chunk, from);
    v1::Ack ack;
    ack.set_received_us(std::chrono::duration_cast<std::chrono::microseconds>(received).count());
    ack.set_chunk(chunk.header.chunk());
    ack.set_iteration(chunk.header.iteration());
    ack.set_accepted(s.ok());
    if (!s.ok()) ack.set_error(std::string(s.message()));
    if (!stream->Write(ack)) break;
  }
  return grpc::Status::OK;
}

grpc::Status DataPlaneServer::Join(grpc::ServerContext* context,
                                   grpc::ServerReaderWriter<wire::WireChunk, wire::WireChunk>* stream) {
  if (const Dialler from = DiallerOf(*context, config_.job); !from.Names(config_.data_center)) {
    return grpc::Status(
        grpc::StatusCode::PERMISSION_DENIED,
        absl::StrCat("a member of ", config_.data_center, " joined with a certificate for ", from.ToString()));
  }
  // The handler thread writes results; a reader thread takes LOCAL chunks.
  std::mutex mu;
  std::condition_variable joined;
  std::deque<uint64_t> iterations;  // in the order the member started them
  bool closed = false;
  std::thread reader([&] {
    wire::WireChunk chunk;
    std::set<uint64_t> seen;
    while (stream->Read(&chunk)) {
      const uint64_t t = chunk.header.iteration();
      if (chunk.header.kind() == v1::CHUNK_LOCAL && seen.insert(t).second) {
        if (seen.size() > 64) seen.erase(seen.begin());  // the member's iterations go up
        board_->Subscribe(t);
        std::lock_guard<std::mutex> lock(mu);
        iterations.push_back(t);
        joined.notify_all();
      }
      gateway_->OnWireChunk(chunk).IgnoreError();  // counted and logged there
    }
    std::lock_guard<std::mutex> lock(mu);
    closed = true;
    joined.notify_all();
  });
  for (;;) {
    uint64_t t;
    {
      std::unique_lock<std::mutex> lock(mu);
      joined.wait(lock, [&] { return closed || !iterations.empty(); });
      if (iterations.empty()) break;
      t = iterations.front();
      iterations.pop_front();
    }
    const auto deadline = ResultBoard::Clock::now() + gateway_->Timeout();
    for (int64_t i = 0; i < gateway_->num_chunks(); ++i) {
      absl::StatusOr<Result> r = board_->Next(t, static_cast<size_t>(i), deadline);
      if (!r.ok()) {
        gateway_->Fail(t, r.status());
        break;
      }
      wire::Envelope e{wire::ChunkKind::kResult, t, 0, 0, r->chunk, r->contributors, config_.data_center, {}, r->data};
      wire::WireChunk out = wire::EncodeChunk(config_.job, config_.policy.chunk_bytes, e);
      out.header.set_local_steps(gateway_->LocalSteps());
      out.header.set_timeout_ms(gateway_->Timeout().count());
      if (!stream->Write(out)) break;
    }
    board_->Unsubscribe(t);
  }
  context->TryCancel();
  reader.join();
  std::lock_guard<std::mutex> lock(mu);
  for (uint64_t t : iterations) board_->Unsubscribe(t);
  return grpc::Status::OK;
}

grpc::Status DataPlaneServer::Describe(grpc::ServerContext*, const v1::DescribeRequest*, v1::JobInfo* info) {
  DescribeJob(config_, *gateway_, info);
  return grpc::Status::OK;
}

}  // namespace geostorm::sidecar
