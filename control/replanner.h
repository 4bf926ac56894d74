// Re-planning with hysteresis, on a link matrix that the sidecars measure.
//
// LinkMatrix starts from the topology's configured rates and takes measured
// estimates as they come; each link keeps its last estimate and its age, so a
// link that stopped carrying traffic keeps a usable (if old) figure and is listed
// as stale, for the controller to have it probed. On a physical topology only
// direct links are measured (gateways talk to their neighbours).
//
// Replan() has two kinds of hysteresis. On the links: an estimate within
// rate_tolerance of the rate the policy in force was planned on is taken as that
// rate (passive estimates jitter). On the decision: it publishes only when the new
// plan's predicted time beats the current policy's, on the same rates, by at least
// min_improvement, or when the current policy uses a link that went away (a fresh
// estimate of 0).
// Pure: no I/O, thread-compatible.
#ifndef GEOSTORM_CONTROL_REPLANNER_H_
#define GEOSTORM_CONTROL_REPLANNER_H_

#include <chrono>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "core/planner/planner.h"
#include "core/policy/policy.h"
#include "core/topology/topology.h"

namespace geostorm::control {

using Clock = std::chrono::steady_clock;

// One directed link's estimate, as a source reports it.
struct LinkSample {
  std::string src, dst;
  double bytes_per_second = 0;
  double age_seconds = 0;  // how old the measurement was when read
};

class LinkMatrix {
 public:
  explicit LinkMatrix(core::Topology topology);

  // Takes the samples of one read at `now`. Samples for unknown DCs or for pairs
  // that are not direct links are ignored (and counted).
  int Update(const std::vector<LinkSample>& samples, Clock::time_point now);

  const core::Topology& topology() const { return topology_; }
  // The topology's links at their latest estimates, as line rates: a measured
  // estimate is a TCP payload rate, and is divided by core::kTcpPayloadShare.
  std::vector<core::DirectedLink> Links() const;
  // Links never measured, or measured longer than `stale_after` ago.
  std::vector<std::pair<std::string, std::string>> Stale(Clock::time_point now, double stale_after_seconds) const;
  // The links measured so far, at their latest estimates as measured (payload
  // rates; age as of `now`).
  std::vector<LinkSample> Measured(Clock::time_point now) const;
  // The age of the oldest measured link, in seconds (0 before any measurement).
  double MaxAge(Clock::time_point now) const;
  // When a link's estimate last moved by more than kChange of what it was (the
  // epoch before any did). A first measurement is not a change.
  Clock::time_point last_change() const { return last_change_; }
  static constexpr double kChange = 0.25;

 private:
  struct Entry {
    double mbps = 0;
    bool measured = false;
    Clock::time_point measured_at;
  };
  core::Topology topology_;
  std::vector<Entry> entries_;  // parallel to topology_.links
  Clock::time_point last_change_{};
};

struct ReplanOptions {
  std::string strategy = "netstorm";
  double min_improvement = 0.10;  // publish when predicted time drops by this fraction
  int64_t model_bytes = 0;
  int64_t chunk_bytes = 0;
  // Passive estimates are noisy. A link whose estimate is within this fraction of
  // the rate the policy in force was planned on keeps that rate.
  double rate_tolerance = 0.30;
  core::PlanOptions plan;  // for example, multipath off for an ablation
};

struct Decision {
  bool publish = false;
  std::vector<core::DirectedLink> links;  // the rates planned on (for the next call's `planned`)
  std::string reason;                     // why (or why not), for logs and status
  core::Policy candidate;
  double current_seconds = 0;  // the current policy, predicted on the matrix; inf when it cannot run
  double candidate_seconds = 0;
};

// `planned`: the rates the policy in force was planned on (the topology's links,
// at first); each measured link outside the tolerance band replaces its rate.
[[nodiscard]] absl::StatusOr<Decision> Replan(const LinkMatrix& matrix, const std::vector<core::DirectedLink>& planned,
                                              const core::Policy& current, const ReplanOptions& options);

}  // namespace geostorm::control

#endif  // GEOSTORM_CONTROL_REPLANNER_H_
