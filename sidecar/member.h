// Member: a sidecar that is not its DC's gateway. Its worker's chunks go up to the
// gateway over a MemberLink (LOCAL), and the gateway's RESULT chunks come back to
// the ResultBoard. It keeps no aggregation state of its own.
// Thread-safe.
#ifndef GEOSTORM_SIDECAR_MEMBER_H_
#define GEOSTORM_SIDECAR_MEMBER_H_

#include <atomic>
#include <memory>

#include "sidecar/sidecar.h"
#include "sidecar/uplink.h"
#include "wire/chunk_codec.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace geostorm::control {
class EventLog;
}  // namespace geostorm::control

namespace geostorm::sidecar {

using control::EventLog;

class MemberLink;
class ResultBoard;
class SidecarMetrics;

class Member final : public Uplink {
 public:
  // `board`, `metrics` and `events` outlive the member; the last two may be null.
  // `timeout` holds until the gateway's results bring its own.
  Member(const SidecarConfig& config, std::chrono::milliseconds timeout,
         const std::shared_ptr<grpc::ChannelCredentials>& credentials, ResultBoard* board, SidecarMetrics* metrics,
         EventLog* events);
  ~Member() override;

  absl::Status Begin(uint64_t t, Clock::time_point deadline) override { return absl::OkStatus(); }
  absl::Status Contribute(const std::string& session, uint64_t t, int64_t chunk, wire::Payload values,
                          uint64_t layout) override;
  void Done(uint64_t t, double seconds) override;
  void Fail(uint64_t t, const absl::Status& why) override;
  int LocalSteps() const override { return local_steps_; }
  void ReportStep(double) override {}  // the DC's gateway measures its own worker
  std::chrono::milliseconds Timeout() const override { return std::chrono::milliseconds(timeout_ms_); }

 private:
  void OnResult(const wire::WireChunk& chunk);

  const SidecarConfig& config_;
  const wire::WireLimits limits_;
  ResultBoard* board_;
  SidecarMetrics* metrics_;
  EventLog* events_;
  std::atomic<int> local_steps_{1};  // from the gateway's RESULT chunks
  std::atomic<int64_t> timeout_ms_;  // and the gateway's iteration timeout (unless --timeout-ms)
  std::unique_ptr<MemberLink> link_;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_MEMBER_H_
