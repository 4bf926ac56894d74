// Uplink: where the Worker API hands a worker's iteration. A gateway sums it into
// the DC's aggregation (Gateway); a member sends it up to its gateway (Member).
// Results come back through the sidecar's ResultBoard either way.
// Implementations are thread-safe.
#ifndef GEOSTORM_SIDECAR_UPLINK_H_
#define GEOSTORM_SIDECAR_UPLINK_H_

#include <chrono>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "wire/payload.h"

namespace geostorm::sidecar {

class Uplink {
 public:
  using Clock = std::chrono::steady_clock;
  virtual ~Uplink() = default;

  // Waits until iteration t may start (a rollout may hold it), then starts it.
  [[nodiscard]] virtual absl::Status Begin(uint64_t t, Clock::time_point deadline) = 0;
  // One chunk of a worker's gradient. `session` names the worker in messages.
  [[nodiscard]] virtual absl::Status Contribute(const std::string& session, uint64_t t, int64_t chunk,
                                                wire::Payload values, uint64_t layout) = 0;
  // Every result chunk of t reached the worker after `seconds`.
  virtual void Done(uint64_t t, double seconds) = 0;
  // t failed here: every waiter on it gets `why`.
  virtual void Fail(uint64_t t, const absl::Status& why) = 0;
  // ESync: the local steps the controller last scheduled for this DC (1 until then).
  virtual int LocalSteps() const = 0;
  // ESync: a worker's compute per local step.
  virtual void ReportStep(double seconds) = 0;
  // How long an iteration may take (IterationTimeout of the policy in force).
  virtual std::chrono::milliseconds Timeout() const = 0;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_UPLINK_H_
