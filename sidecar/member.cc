#include "sidecar/member.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "control/credentials.h"
#include "control/event_log.h"
#include "sidecar/gateway.h"
#include "sidecar/metrics.h"
#include "sidecar/result_board.h"
#include "sidecar/transport/member_link.h"

namespace geostorm::sidecar {

Member::Member(const SidecarConfig& config, std::chrono::milliseconds timeout,
               const std::shared_ptr<grpc::ChannelCredentials>& credentials, ResultBoard* board,
               SidecarMetrics* metrics, EventLog* events)
    : config_(config),
      limits_{config.job, config.policy.model_bytes, config.policy.chunk_bytes},
      board_(board),
      metrics_(metrics),
      events_(events),
      timeout_ms_(timeout.count()),
      link_(std::make_unique<MemberLink>(
          config.gateway, credentials, config.max_queue_bytes, [this](const wire::WireChunk& c) { OnResult(c); },
          control::DataCenterIdentity(config.job, config.data_center, config.insecure))) {}

Member::~Member() { link_.reset(); }  // its reader thread calls OnResult

absl::Status Member::Contribute(const std::string& session, uint64_t t, int64_t chunk, wire::Payload values,
                                uint64_t layout) {
  wire::Envelope e{wire::ChunkKind::kLocal, t,     config_.policy.version, 0, chunk, 1, session, {},
                   std::move(values),       layout};
  const std::chrono::milliseconds timeout = Timeout();
  if (!link_->Send(wire::EncodeChunk(config_.job, config_.policy.chunk_bytes, e), timeout)) {
    return absl::UnavailableError(absl::StrCat("the gateway at ", config_.gateway, " did not take chunk ", chunk,
                                               " of iteration ", t, " within ", timeout.count(), " ms"));
  }
  return absl::OkStatus();
}

void Member::Done(uint64_t t, double seconds) {
  if (metrics_) metrics_->IterationDone(t, seconds);
  if (events_) events_->IterationDone(t, seconds, 0);
}

void Member::Fail(uint64_t t, const absl::Status& why) {
  spdlog::error("{}: iteration {} failed: {}", config_.member_id, t, std::string(why.message()));
  if (events_) events_->IterationFailed(t, std::string(why.message()));
  board_->Fail(t, std::string(why.message()));
}

void Member::OnResult(const wire::WireChunk& chunk) {
  absl::StatusOr<wire::Envelope> e = wire::DecodeChunk(limits_, chunk);
  const bool ok = e.ok() && e->kind == wire::ChunkKind::kResult;
  if (metrics_) metrics_->CountChunk("result", ok ? "accepted" : e.ok() ? "rejected" : OutcomeOf(e.status()));
  if (!ok) return;
  if (chunk.header.local_steps() > 0) local_steps_ = chunk.header.local_steps();
  if (chunk.header.timeout_ms() > 0 && config_.timeout.count() == 0) timeout_ms_ = chunk.header.timeout_ms();
  board_->Publish({e->iteration, e->chunk, e->contributors, e->data});
}

}  // namespace geostorm::sidecar
