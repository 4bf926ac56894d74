// Chunk assignment: given candidate trees, decide how many whole chunks each one
// carries, trading bandwidth against pipeline latency. Used by the netstorm planner.
//
// A mixed-integer program (GLPK branch and bound):
//   n_j    chunks on tree j (integer), u_j = 1 if tree j is used (binary)
//   S      streaming time: every resource e carries sum_j a_je n_j C <= B_e S
//   Lr, Lb the slowest used reduce / broadcast tree's one-chunk latency
//   minimise S + w (Lr + Lb)
// subject to the reduce chunks summing to the model and each root broadcasting
// exactly what it reduced. The latency terms stop the plan from giving a sliver
// of the model to a deep tree over slow links, whose last chunk would arrive long
// after everything else: LP shares rounded to chunks do exactly that.
// The search is bounded by a node budget, so results do not depend on the
// machine's speed. Pure; thread-safe.
#ifndef GEOSTORM_CORE_PLANNER_CHUNK_ASSIGNMENT_H_
#define GEOSTORM_CORE_PLANNER_CHUNK_ASSIGNMENT_H_

#include <cstdint>
#include <vector>

#include "core/network_view.h"
#include "core/planner/tree_packing.h"

namespace geostorm::core {

// One chunk's time from the farthest leaf to the root (reduce) or from the root
// to the farthest leaf (broadcast), hop by hop at each link's rate.
double OneChunkLatency(const NetworkView& view, const std::vector<int>& parent, Phase phase);

// Chunks per candidate tree (the `share` field is ignored and the result is
// written there as a chunk count). Returns false when the program has no
// solution within the node budget.
// `latency_weight` is w above: how much one second of one-chunk latency counts
// against one second of streaming.
bool AssignChunks(const NetworkView& view, std::vector<PackedTree>& trees, double latency_weight,
                  int node_budget = 500);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_PLANNER_CHUNK_ASSIGNMENT_H_
