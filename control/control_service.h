// ControlService: the controller's end of control.proto. Gateways subscribe for
// policy updates and report progress; Rollout() runs the two-phase protocol:
//
//   1. pick v = next unused version and activate_at = highest reported iteration
//      + lead; save the state with v pending; send Prepare to every gateway;
//   2. every gateway acknowledged by the deadline: save v as committed, then send
//      Commit. Otherwise (a refusal, a gateway missing or too slow): save the
//      abort, then send Abort, and the old policy stays.
// The decision is saved before anyone hears it, so a controller that restarts
// mid-rollout resolves it from the store: an undecided version is aborted, and a
// gateway that reconnects gets Current (committed policies and any pending one),
// which tells it whatever it missed.
//
// With sync_mode "esync" it is also ESync's state service: every report of a
// DC's step time re-runs EsyncLocalSteps, and each gateway whose local steps
// changed gets a Schedule (a subscribing one gets its own after Current).
//
// Thread-safe. Serve it with grpc::ServerBuilder::RegisterService(service.grpc()).
#ifndef GEOSTORM_CONTROL_CONTROL_SERVICE_H_
#define GEOSTORM_CONTROL_CONTROL_SERVICE_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "control/rollout_state.h"
#include "control/sync_schedule.h"

namespace grpc {
class Service;
}

namespace geostorm::control {

struct ControlServiceConfig {
  std::string job = "job";
  std::vector<std::string> gateways;  // the DCs whose gateways must take part
  std::chrono::milliseconds prepare_timeout{5000};
  // Iterations between the highest reported and activate_at. Gateways report each
  // iteration as they begin it, so 1 is the next one: a gateway that begins it
  // before the Prepare arrives refuses, and Rollout tries again at once with one
  // more (twice at most). The iterations right after a rate change are the
  // slowest; each one of lead costs one.
  uint64_t lead = 1;
  // Fault injection for tests: every update waits a random time up to this long.
  std::chrono::milliseconds inject_delay{0};
  // "esync": schedule each DC's local steps (a Schedule update whenever they change)
  // from the step times the gateways report. Other modes need no schedule.
  std::string sync_mode = "bsp";
  EsyncOptions esync;
};

// What a gateway last reported.
struct GatewayReport {
  bool connected = false;
  uint64_t iteration = 0;
  uint64_t policy_version = 0;
  double iteration_seconds = 0;
  double step_seconds = 0;  // compute per local step, 0 until measured
  int local_steps = 0;      // esync: the schedule last sent to it
  std::string error;
  struct Link {
    double bytes_per_second = 0;
    double age_seconds = 0;
    std::chrono::steady_clock::time_point received;
  };
  std::map<std::string, Link> links;  // dst DC -> its estimate
};

struct RolloutCounters {
  int64_t committed = 0;
  int64_t aborted = 0;
};

class ControlService {
 public:
  virtual ~ControlService() = default;

  // Loads the state from `store`; an undecided rollout found there is aborted.
  // With nothing saved, `initial` is committed from iteration 0.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<ControlService>> Create(ControlServiceConfig config,
                                                                              StateStore* store,
                                                                              const core::Policy& initial);

  virtual grpc::Service* grpc() = 0;

  // Rolls `policy` out (its version is assigned here). Blocks until it is committed
  // (returns the version) or aborted (returns why, naming the gateway).
  [[nodiscard]] virtual absl::StatusOr<uint64_t> Rollout(core::Policy policy) = 0;

  virtual core::Activation Current() const = 0;
  virtual std::map<std::string, GatewayReport> Reports() const = 0;
  virtual RolloutCounters counters() const = 0;
  // Asks `dc`'s gateway to send probe traffic on its links to `peers`.
  virtual void Probe(const std::string& dc, const std::vector<std::string>& peers) = 0;
  // Ends every Subscribe stream, so that the server can shut down.
  virtual void Shutdown() = 0;
};

}  // namespace geostorm::control

#endif  // GEOSTORM_CONTROL_CONTROL_SERVICE_H_
