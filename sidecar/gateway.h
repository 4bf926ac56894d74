// Gateway: a DC's aggregation point. It owns the aggregate-forward engine and the
// links to the peer gateways, and it
//   - takes this DC's workers' chunks (as the Worker API's Uplink) and the chunks
//     of members and peers (OnWireChunk): decoded, checked, counted and refused
//     with a reason, or relayed unread when they have hops left;
//   - sends what the engine produces to the peers, each chunk of an aux-routed
//     edge over the path with the earliest expected finish (multipath), with an
//     optional random delay per chunk (fault injection);
//   - with a controller, holds iterations and chunks at the RolloutGate during a
//     rollout, reports progress and sends probes on the links it is asked to;
//   - exports the link meters to /metrics and records iterations in the EventLog;
//   - takes a peer's chunk only from a connection whose certificate names its
//     sender, or names a DC that a policy known here relays the sender's chunks
//     through to this DC (see Dialler).
//
// Thread-safe. Lock order, for every thread: RolloutClient, then RolloutGate,
// then the engine's mutex (engine_mu_), then a PeerLink's or the ResultBoard's.
// Nothing is sent to a peer while engine_mu_ is held.
#ifndef GEOSTORM_SIDECAR_GATEWAY_H_
#define GEOSTORM_SIDECAR_GATEWAY_H_

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "geostorm/v1/control.pb.h"
#include "sidecar/engine/aggregator.h"
#include "sidecar/rollout_gate.h"
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

class PeerLink;
class ResultBoard;
class RolloutClient;
class SidecarMetrics;

// The chunk counter's outcome for a status: accepted, checksum_error, duplicate
// or rejected (geostorm_chunks_total).
std::string OutcomeOf(const absl::Status& s);
const char* PhaseName(wire::ChunkKind k);

// The first DC that `dc` sends to under `policy` (tree edges and relay hops) and
// has no address for, or "".
std::string UnreachablePeer(const core::Policy& policy, const std::string& dc,
                            const std::map<std::string, std::string>& peers);

// Who opened a data-plane connection: the DCs its client certificate names
// (control::DataCentersNamed). Plaintext connections are not authenticated, and
// may speak for anyone.
struct Dialler {
  bool anyone = true;
  std::vector<std::string> dcs;  // "*" names every DC of the job
  bool Names(const std::string& dc) const;
  std::string ToString() const;
};

class Gateway final : public Uplink {
 public:
  // What a gateway shares with the rest of its sidecar; all outlive it.
  struct Shared {
    ResultBoard* board = nullptr;
    SidecarMetrics* metrics = nullptr;  // may be null
    EventLog* events = nullptr;         // may be null
  };

  // `config.policy` is the first policy; with a controller, `rollout` brings the
  // later ones (and is attached here). Errors name the bad field.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Gateway>> Create(
      const SidecarConfig& config, const std::shared_ptr<grpc::ChannelCredentials>& credentials, Shared shared,
      std::unique_ptr<RolloutClient> rollout);
  ~Gateway() override;

  // Uplink (the Worker API).
  absl::Status Begin(uint64_t t, Clock::time_point deadline) override;
  absl::Status Contribute(const std::string& session, uint64_t t, int64_t chunk, wire::Payload values,
                          uint64_t layout) override;
  void Done(uint64_t t, double seconds) override;
  void Fail(uint64_t t, const absl::Status& why) override;
  int LocalSteps() const override { return local_steps_; }
  void ReportStep(double seconds) override;
  std::chrono::milliseconds Timeout() const override { return std::chrono::milliseconds(timeout_ms_); }

  // A chunk from a peer gateway or a member (DataPlane), over a connection that
  // `from` opened. Refusals are counted and logged here, and returned for the
  // sender's Ack.
  absl::Status OnWireChunk(const wire::WireChunk& chunk, const Dialler& from = {});

  int64_t num_chunks() const { return num_chunks_; }

 private:
  Gateway(const SidecarConfig& config, Shared shared);
  absl::Status Init(const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                    std::unique_ptr<RolloutClient> rollout);

  // Refuses a chunk from `sender` that `from` may not bring here.
  absl::Status CheckDialler(const std::string& sender, const Dialler& from) const;
  // Notes which DCs the aux routes of `policy` relay whose chunks to this DC.
  void AddRelays(const core::Policy& policy);
  absl::Status Relay(wire::WireChunk chunk);
  absl::Status Accept(const wire::Envelope& e);
  void AcceptReleased();
  // Runs one engine call under engine_mu_ on a chunk of `phase`, counts its
  // outcome, then publishes and sends what it produced.
  absl::Status Engine(const char* phase, const std::function<absl::Status(Aggregator&)>& call);
  void SendToPeer(const Outgoing& o);
  size_t EarliestFinish(const std::vector<std::vector<std::string>>& paths, int64_t bytes);
  void SendProbes(const std::vector<std::string>& peers);
  v1::Progress MakeProgress();
  void ExportLinks();
  void Count(const char* phase, const std::string& outcome);
  // Counts a refused chunk by sender and reason, and logs it (rate-limited).
  void Refused(uint64_t iteration, int64_t chunk, const std::string& sender, const absl::Status& s);

  const SidecarConfig& config_;
  const Shared shared_;
  const wire::WireLimits limits_;
  const int64_t num_chunks_;
  std::mutex engine_mu_;
  std::unique_ptr<Aggregator> engine_;
  uint64_t exported_version_ = 0;  // under engine_mu_
  std::map<std::string, std::unique_ptr<PeerLink>> links_;
  std::unique_ptr<RolloutGate> gate_;       // with a controller
  std::unique_ptr<RolloutClient> rollout_;  // with a controller
  std::atomic<double> last_iteration_seconds_{0};
  std::atomic<int> local_steps_{1};  // esync, from the controller
  std::atomic<int64_t> timeout_ms_;  // IterationTimeout of the policy of the last iteration done
  std::mutex step_mu_;
  double step_seconds_ = 0;  // under step_mu_: smoothed

  mutable std::mutex relays_mu_;
  std::set<std::pair<std::string, std::string>> relays_;  // (sender, the DC before this one), any policy

  std::mutex error_mu_;
  std::string last_error_;
  std::atomic<int64_t> refusals_{0};
  std::atomic<bool> stopping_{false};
  std::thread metrics_thread_;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_GATEWAY_H_
