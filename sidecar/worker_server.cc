#include "sidecar/worker_server.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <thread>

#include "absl/strings/str_cat.h"
#include "sidecar/result_board.h"
#include "sidecar/uplink.h"

namespace geostorm::sidecar {
namespace {

using Clock = std::chrono::steady_clock;

wire::ResultFrame ErrorFrame(uint64_t t, const absl::Status& why) {
  wire::ResultFrame error;
  error.header.set_iteration(t);
  error.header.set_error(std::string(why.message()));
  return error;
}

// The index of the first NaN or infinity (all exponent bits set), or -1. One
// vectorisable pass over the bits, then a search only when something is wrong.
int64_t FirstNonFinite(const wire::Floats& values) {
  constexpr uint32_t kExponent = 0x7f800000u;
  bool any = false;
  for (float v : values) {
    uint32_t bits;
    std::memcpy(&bits, &v, sizeof bits);
    any |= (bits & kExponent) == kExponent;
  }
  if (!any) return -1;
  return std::find_if(values.begin(), values.end(), [](float v) { return !std::isfinite(v); }) - values.begin();
}

}  // namespace

void DescribeJob(const SidecarConfig& config, const Uplink& uplink, v1::JobInfo* info) {
  info->set_job(config.job);
  info->set_data_center(config.data_center);
  info->set_model_bytes(config.policy.model_bytes);
  info->set_chunk_bytes(config.policy.chunk_bytes);
  info->set_total_workers(config.total_workers);
  info->set_sync_mode(config.sync_mode);
  info->set_local_steps(uplink.LocalSteps());
  info->set_timeout_ms(uplink.Timeout().count());
}

grpc::Status WorkerServer::Describe(grpc::ServerContext*, const v1::DescribeRequest* request, v1::JobInfo* info) {
  if (request->step_seconds() > 0 && std::isfinite(request->step_seconds()))
    uplink_->ReportStep(request->step_seconds());
  DescribeJob(config_, *uplink_, info);
  return grpc::Status::OK;
}

grpc::Status WorkerServer::AllReduce(grpc::ServerContext* context,
                                     grpc::ServerReaderWriter<wire::ResultFrame, wire::GradientFrame>* stream) {
  const std::string session =
      absl::StrCat(config_.member_id.empty() ? config_.data_center : config_.member_id, "/worker", next_session_++);
  wire::GradientFrame first;
  if (!stream->Read(&first)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "no gradient chunks sent");
  const uint64_t t = first.header.iteration();
  const auto started = Clock::now();
  const auto deadline = started + uplink_->Timeout();
  if (absl::Status s = uplink_->Begin(t, deadline); !s.ok()) {
    uplink_->Fail(t, s);
    stream->Write(ErrorFrame(t, s));
    return grpc::Status::OK;
  }
  board_->Subscribe(t);
  std::atomic<bool> bad_input{false}, answered{false};
  std::thread reader([&] {
    wire::GradientFrame chunk = first;
    int64_t sent = 0;
    do {
      absl::Status s = OnChunk(session, t, chunk);
      ++sent;
      if (!s.ok() && !bad_input.exchange(true)) {
        board_->Fail(t, absl::StrCat("bad input from ", session, ": ", s.message()));
      }
    } while (stream->Read(&chunk));
    // The stream ended before the gradient did, and not because the iteration is
    // over: the worker died or gave up, and the sum can never be complete.
    if (sent < config_.policy.num_chunks() && !answered && !bad_input.exchange(true)) {
      board_->Fail(t, absl::StrCat("worker ", session, " went away after ", sent, " of ", config_.policy.num_chunks(),
                                   " gradient chunks of iteration ", t));
    }
  });
  absl::Status outcome;
  for (int64_t i = 0; i < config_.policy.num_chunks(); ++i) {
    absl::StatusOr<Result> r = board_->Next(t, static_cast<size_t>(i), deadline);
    if (!r.ok()) {
      outcome = r.status();
      break;
    }
    wire::ResultFrame out;
    out.header.set_iteration(t);
    out.header.set_chunk(r->chunk);
    out.header.set_contributors(r->contributors);
    out.set_payload(r->data);
    if (!stream->Write(out)) break;
  }
  answered = true;  // from here on the worker may hang up
  if (!outcome.ok()) {
    uplink_->Fail(t, outcome);
    stream->Write(ErrorFrame(t, outcome));
  } else {
    uplink_->Done(t, std::chrono::duration<double>(Clock::now() - started).count());
  }
  board_->Unsubscribe(t);
  context->TryCancel();
  reader.join();
  return grpc::Status::OK;
}

// One gradient chunk of a worker, checked against the model before it goes up.
absl::Status WorkerServer::OnChunk(const std::string& session, uint64_t t, const wire::GradientFrame& chunk) {
  if (chunk.header.iteration() != t) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk for iteration ", chunk.header.iteration(), " in a call for iteration ", t));
  }
  const int64_t k = chunk.header.chunk();
  const core::Policy& p = config_.policy;
  if (k < 0 || k >= p.num_chunks() || chunk.bytes() != p.BytesOf(k, 1)) {
    return absl::InvalidArgumentError(absl::StrCat("gradient chunk ", k, " has ", chunk.bytes(),
                                                   " bytes; the model has ", p.num_chunks(), " chunks of ",
                                                   p.chunk_bytes, " bytes"));
  }
  wire::Payload values = wire::PayloadOf(chunk);
  if (const int64_t i = FirstNonFinite(*values); i >= 0) {
    // Summed, it would turn every worker's model into NaN.
    return absl::InvalidArgumentError(absl::StrCat("gradient chunk ", k, " holds ", (*values)[i], " at float ",
                                                   k * p.chunk_bytes / 4 + i, " of the model; it is not summed"));
  }
  return uplink_->Contribute(session, t, k, std::move(values), chunk.header.layout());
}

}  // namespace geostorm::sidecar
