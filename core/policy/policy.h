// Policy: the synchronisation plan every sidecar follows for an iteration.
//
// The flat gradient is cut into chunks of `chunk_bytes` (the last may be short).
// Each ShardPlan owns a contiguous range of chunks and names a root DC, a reduce
// in-tree (chunks are summed on the way to the root) and a broadcast out-tree (the
// sum is sent back down). The same DC may root several shards with different trees.
// Aux routes move a fraction of one tree edge's chunks over a relay path.
//
// Validate() checks a policy against the network it will run on and names the
// shard, DC or link at fault. A Policy is a plain value; not synchronised.
#ifndef GEOSTORM_CORE_POLICY_POLICY_H_
#define GEOSTORM_CORE_POLICY_POLICY_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/network_view.h"

namespace geostorm::core {

// Limits on a policy (CheckPolicyShape): the gateways size their tables and
// their gRPC messages by them (wire::kMaxMessageBytes holds the largest chunk).
inline constexpr int64_t kMaxChunkBytes = 64 << 20;
inline constexpr int64_t kMaxChunks = 1 << 22;

enum class Phase { kReduce, kBroadcast };

struct ShardPlan {
  int root = 0;
  int64_t first_chunk = 0;
  int64_t num_chunks = 0;
  std::vector<int> reduce_parent;     // per DC: its parent in the in-tree, -1 at the root
  std::vector<int> broadcast_parent;  // per DC: its parent in the out-tree, -1 at the root
};

struct AuxRoute {
  int shard = 0;  // index into Policy::shards
  Phase phase = Phase::kReduce;
  std::vector<int> path;  // path.front() -> path.back() is a tree edge of that phase
  double fraction = 0;    // of that edge's chunks that take this path
};

struct Policy {
  uint64_t version = 0;
  std::string strategy;
  std::vector<std::string> data_centers;
  int64_t model_bytes = 0;
  int64_t chunk_bytes = 0;
  bool phase_barrier = false;  // push-then-pull: broadcast a shard only once fully reduced
  std::vector<ShardPlan> shards;
  std::vector<AuxRoute> aux_routes;
  double predicted_seconds = 0;
  double t_min_seconds = 0;

  int64_t num_chunks() const { return chunk_bytes > 0 ? (model_bytes + chunk_bytes - 1) / chunk_bytes : 0; }
  // Bytes in chunks [first, first + count).
  int64_t BytesOf(int64_t first_chunk, int64_t count) const;
};

// A policy and the first iteration it applies to (the rollout's unit).
struct Activation {
  Policy policy;
  uint64_t activate_at = 0;
};

// Checks that:
//   - the DCs, model size and chunk size match the view;
//   - shards cover chunks [0, num_chunks) exactly once, in order, with valid roots;
//   - every reduce and broadcast tree spans all DCs, is a tree rooted at the shard's
//     root, and uses only links the view has;
//   - every aux route is a simple path over existing links that bypasses a real tree
//     edge, with a fraction in (0, 1], and the fractions of one edge sum to <= 1.
// Example:
//   if (absl::Status s = ValidatePolicy(policy, view); !s.ok()) LOG(s.message());
[[nodiscard]] absl::Status ValidatePolicy(const Policy& policy, const NetworkView& view);

// What ValidatePolicy checks that needs no network: DCs named once, every index
// (roots, parents, aux paths and shards) in range, shards that cover the model
// exactly once, trees that are trees, aux routes that are simple paths bypassing a
// tree edge. The decoders (policy_codec.h) call it: a policy that decodes never
// makes a sidecar index past its tables.
[[nodiscard]] absl::Status CheckPolicyShape(const Policy& policy);

// Children lists of a parent array.
std::vector<std::vector<int>> ChildrenOf(const std::vector<int>& parent);

// Tree edges of a shard for a phase, as (from, to) in the direction bytes flow.
std::vector<std::pair<int, int>> TreeEdges(const ShardPlan& shard, Phase phase);
// The same for a bare parent array read as a tree of that phase.
std::vector<std::pair<int, int>> TreeEdges(const std::vector<int>& parent, Phase phase);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_POLICY_POLICY_H_
