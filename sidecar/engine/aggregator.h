// Aggregator: a gateway sidecar's chunked aggregate-forward state machine, with no
// I/O. It is fed chunks (from local workers, member sidecars and peer gateways)
// and answers with what to send where and which results are ready.
//
// Per iteration and chunk k of shard s (root r):
//   - the DC's W local contributions are summed first (hierarchical aggregation);
//   - with the sums from all of this DC's children in s's reduce tree added, the
//     chunk goes to the parent, or, at the root, becomes the result;
//   - a result is delivered locally and sent to the broadcast children; a
//     broadcast chunk from the parent is delivered and passed on the same way;
//   - a chunk whose route has hops left is relayed unread (the sidecar forwards
//     routed chunks from the wire itself, as received bytes, before decoding);
//   - with phase_barrier (parameter-server semantics) a root holds its shard's
//     sums until the whole shard is reduced, then broadcasts them.
// A tree edge with aux routes goes over whichever path the PathChooser picks.
//
// Every input is checked before it changes state: a chunk that is out of range,
// from a DC that is not the expected child or parent, of the wrong size, for a
// policy version not in force, or a duplicate, is refused with a reason and
// changes nothing. Policies apply from an iteration boundary (SetPolicy).
//
// Not thread-safe: the owner serialises calls (one mutex in the sidecar).
#ifndef GEOSTORM_SIDECAR_ENGINE_AGGREGATOR_H_
#define GEOSTORM_SIDECAR_ENGINE_AGGREGATOR_H_

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "core/policy/policy.h"
#include "wire/envelope.h"

namespace geostorm::sidecar {

using wire::ChunkKind;
using wire::Envelope;
using wire::Floats;
using wire::Payload;

// The aggregation kernel: out[i] = a[i] + b[i] (out may be a).
void AddFloats(const float* a, const float* b, float* out, size_t n);

// Something to send: `peer` is the next hop (a DC name or a member id).
struct Outgoing {
  std::string peer;
  Envelope chunk;
  // Send order on the peer link, lowest first: the chunk's position in its shard
  // (k / chunks), so that all shards advance together as the planner assumes;
  // 0 for every chunk of a push-then-pull policy, which keeps them in order.
  double priority = 0;
};

// A finished chunk of the result, for the local workers and members.
struct Result {
  uint64_t iteration = 0;
  int64_t chunk = 0;
  int contributors = 0;
  Payload data;
};

struct AggregatorConfig {
  std::string job;
  std::string data_center;     // this gateway's DC
  int local_contributors = 1;  // W: workers in this DC
  int total_contributors = 1;  // every worker of the job
};

// Picks one of the paths a chunk may take over a tree edge; each path is its
// list of hops (first hop first, the edge's receiver last). Returns an index.
using PathChooser = std::function<size_t(const std::vector<std::vector<std::string>>& paths, int64_t bytes)>;

// True for the refusal of a contribution flattened from other named tensors than
// the chunk's others: the iteration can never be summed, so it should fail now
// rather than time out.
bool IsLayoutMismatch(const absl::Status& s);

// Chunk buffers are a few MiB each and come and go at line rate. By default glibc
// maps and unmaps each one, so every chunk pays page faults on fresh memory; this
// keeps freed chunk memory in the heap for reuse. Call once at start-up.
void KeepChunkMemory();

class Aggregator {
 public:
  Aggregator(AggregatorConfig config, core::Policy policy);

  // Use `policy` from iteration `from_iteration` on. The policy must be valid for
  // the same DCs, model and chunk size, with a higher version.
  [[nodiscard]] absl::Status SetPolicy(core::Policy policy, uint64_t from_iteration);

  void set_path_chooser(PathChooser chooser) { chooser_ = std::move(chooser); }

  // One local contribution (a worker's gradient chunk or a member's LOCAL chunk).
  // `contributor` names it for duplicate detection. `layout` fingerprints the
  // named tensors the gradient was flattened from (0: one flat gradient); every
  // contribution to a chunk, local or from peers, must have the same one.
  [[nodiscard]] absl::Status OnLocal(uint64_t iteration, int64_t chunk, const std::string& contributor,
                                     const Payload& data, int contributors = 1, uint64_t layout = 0);

  // A chunk from a peer gateway (reduce, broadcast, or one to relay).
  [[nodiscard]] absl::Status OnPeer(const Envelope& chunk);

  // Fails every iteration that started before `iteration` and is unfinished:
  // returns them so that the caller can tell their workers. State is dropped.
  std::vector<uint64_t> Abandon(uint64_t before_iteration);

  // What to send and deliver since the last call.
  std::vector<Outgoing> TakeOutgoing();
  std::vector<Result> TakeResults();

  // True once every chunk of the iteration's result has been delivered here.
  bool IterationDone(uint64_t iteration) const { return iteration < oldest_open_ || finished_.count(iteration) > 0; }
  // The policy that applies to `iteration`. Policies that no iteration from
  // kPolicyHistory below the oldest open one can use are dropped (a job re-plans
  // every few minutes for days); an iteration older than that gets the oldest kept.
  const core::Policy& PolicyFor(uint64_t iteration) const;
  size_t policies_kept() const { return policies_.size(); }
  static constexpr uint64_t kPolicyHistory = 64;
  uint64_t latest_version() const { return policies_.rbegin()->second->version; }
  int64_t num_chunks() const { return num_chunks_; }
  int64_t ChunkFloats(int64_t chunk) const;
  // A chunk's send order on its peer link (see Outgoing::priority).
  double Priority(uint64_t iteration, int shard, int64_t chunk) const;

 private:
  struct ChunkState {
    Payload first;         // the only input so far, not copied
    Floats sum;            // the sum of two or more inputs
    int inputs = 0;        // local sum (once complete) + children's sums
    int local = 0;         // local contributions so far
    int contributors = 0;  // workers in `sum`
    bool sent = false;
    bool delivered = false;
    std::optional<uint64_t> layout;  // of the first contribution
    std::set<std::string> seen;      // contributors and child DCs already counted
  };
  struct IterationState {
    const core::Policy* policy = nullptr;
    std::map<int64_t, ChunkState> chunks;
    int64_t delivered = 0;
    std::map<int, std::vector<std::pair<int64_t, Payload>>> held;  // phase_barrier: reduced, not yet sent
  };

  IterationState& Iteration(uint64_t iteration);
  absl::Status CheckChunk(uint64_t iteration, int64_t chunk, const Payload& data) const;
  static absl::Status MatchLayout(ChunkState& state, int64_t chunk, const std::string& from, uint64_t layout);
  int ShardOf(const core::Policy& policy, int64_t chunk) const;
  void Accumulate(ChunkState& state, const Payload& data);
  void MaybeForward(uint64_t iteration, int64_t chunk);
  void Deliver(uint64_t iteration, int64_t chunk, int contributors, Payload data);
  void PrunePolicies();  // after oldest_open_ moves
  void SendOverEdge(Envelope chunk, const core::Policy& policy, core::Phase phase, int to);
  int DcIndex(const std::string& name) const;

  AggregatorConfig config_;
  int self_ = -1;
  int64_t num_chunks_ = 0;
  std::map<uint64_t, std::unique_ptr<core::Policy>> policies_;  // from iteration -> policy
  std::map<uint64_t, IterationState> iterations_;
  uint64_t oldest_open_ = 0;     // iterations below this are finished or abandoned
  std::set<uint64_t> finished_;  // finished iterations at or above oldest_open_
  std::vector<Outgoing> outgoing_;
  std::vector<Result> results_;
  PathChooser chooser_;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_ENGINE_AGGREGATOR_H_
