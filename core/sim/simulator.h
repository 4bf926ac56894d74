// Flow-level simulator: plays one iteration of a policy over a NetworkView.
//
// Model:
//   - Every DC holds its gradient at t = 0.
//   - A chunk puts its payload / kTcpPayloadShare bytes on the wire (TCP framing);
//     the view's rates are line rates.
//   - Each overlay link u -> v is one sender queue (as one sidecar stream per peer):
//     chunks leave it in the order they became ready, one at a time.
//   - Transfers that are in flight at the same time share every resource (physical
//     link) they cross max-min fairly, so overlay links routed over the same
//     physical link slow each other down.
//   - Reduce: a DC forwards chunk k of a shard to its parent once it has the chunk
//     from all its children. Broadcast: the root sends chunk k down once it is fully
//     reduced (with phase_barrier, once the whole shard is), and each DC passes it
//     on as it arrives.
//   - Aux routes take the planned fraction of an edge's chunks, spread evenly over
//     the shard; relays store and forward whole chunks.
// The iteration ends when every DC holds every chunk of the result.
// Thread-safe: a pure function of its inputs.
#ifndef GEOSTORM_CORE_SIM_SIMULATOR_H_
#define GEOSTORM_CORE_SIM_SIMULATOR_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "core/network_view.h"
#include "core/policy/policy.h"

namespace geostorm::core {

struct SimResult {
  double iteration_seconds = 0;
  std::vector<double> resource_bytes;        // per resource in view.resources()
  std::vector<double> resource_utilisation;  // bytes / (capacity * iteration time)
  int64_t transfers = 0;                     // chunk hops played
};

// Validates the policy against the view, then simulates it.
//   absl::StatusOr<SimResult> r = Simulate(view, policy);
//   if (r.ok()) std::cout << r->iteration_seconds;
[[nodiscard]] absl::StatusOr<SimResult> Simulate(const NetworkView& view, const Policy& policy);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_SIM_SIMULATOR_H_
