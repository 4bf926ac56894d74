#include "sidecar/engine/aggregator.h"

#include <malloc.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace geostorm::sidecar {

void KeepChunkMemory() {
  mallopt(M_MMAP_THRESHOLD, 256 << 20);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
}

// Eight floats at a time, in AVX2 where the CPU has it (chosen at load time) and
// as two SSE halves otherwise. Both inputs of a block are loaded before its store,
// so `out == a` is safe; the compiler would not vectorise the plain loop at -O2
// because out may alias a.
__attribute__((target_clones("avx2", "default"))) void AddFloats(const float* a, const float* b, float* out, size_t n) {
  using Block = float __attribute__((vector_size(32)));
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    Block x, y;
    std::memcpy(&x, a + i, sizeof x);
    std::memcpy(&y, b + i, sizeof y);
    x += y;
    std::memcpy(out + i, &x, sizeof x);
  }
  for (; i < n; ++i) out[i] = a[i] + b[i];
}

Aggregator::Aggregator(AggregatorConfig config, core::Policy policy) : config_(std::move(config)) {
  num_chunks_ = policy.num_chunks();
  self_ = -1;
  for (size_t i = 0; i < policy.data_centers.size(); ++i) {
    if (policy.data_centers[i] == config_.data_center) self_ = static_cast<int>(i);
  }
  policies_[0] = std::make_unique<core::Policy>(std::move(policy));
}

absl::Status Aggregator::SetPolicy(core::Policy policy, uint64_t from_iteration) {
  const core::Policy& current = *policies_.rbegin()->second;
  if (policy.data_centers != current.data_centers || policy.model_bytes != current.model_bytes ||
      policy.chunk_bytes != current.chunk_bytes) {
    return absl::InvalidArgumentError("new policy has other DCs, model size or chunk size");
  }
  if (policy.version <= current.version) {
    return absl::InvalidArgumentError(
        absl::StrCat("policy version ", policy.version, " is not newer than ", current.version));
  }
  if (from_iteration < policies_.rbegin()->first) {
    return absl::InvalidArgumentError("a policy cannot apply before the one in force");
  }
  policies_[from_iteration] = std::make_unique<core::Policy>(std::move(policy));
  return absl::OkStatus();
}

const core::Policy& Aggregator::PolicyFor(uint64_t iteration) const {
  auto it = policies_.upper_bound(iteration);
  return it == policies_.begin() ? *it->second : *std::prev(it)->second;
}

void Aggregator::PrunePolicies() {
  const uint64_t keep_from = oldest_open_ > kPolicyHistory ? oldest_open_ - kPolicyHistory : 0;
  while (policies_.size() > 1 && std::next(policies_.begin())->first <= keep_from) policies_.erase(policies_.begin());
}

int64_t Aggregator::ChunkFloats(int64_t chunk) const {
  const core::Policy& p = *policies_.begin()->second;
  return p.BytesOf(chunk, 1) / static_cast<int64_t>(sizeof(float));
}

int Aggregator::DcIndex(const std::string& name) const {
  const auto& dcs = policies_.begin()->second->data_centers;
  auto it = std::find(dcs.begin(), dcs.end(), name);
  return it == dcs.end() ? -1 : static_cast<int>(it - dcs.begin());
}

double Aggregator::Priority(uint64_t iteration, int shard, int64_t chunk) const {
  const core::Policy& policy = PolicyFor(iteration);
  if (policy.phase_barrier || shard < 0 || shard >= static_cast<int>(policy.shards.size())) return 0;
  const core::ShardPlan& s = policy.shards[shard];
  return static_cast<double>(chunk - s.first_chunk) / static_cast<double>(s.num_chunks);
}

int Aggregator::ShardOf(const core::Policy& policy, int64_t chunk) const {
  for (size_t s = 0; s < policy.shards.size(); ++s) {
    const core::ShardPlan& shard = policy.shards[s];
    if (chunk >= shard.first_chunk && chunk < shard.first_chunk + shard.num_chunks) return static_cast<int>(s);
  }
  return -1;
}

Aggregator::IterationState& Aggregator::Iteration(uint64_t iteration) {
  IterationState& state = iterations_[iteration];
  if (state.policy == nullptr) state.policy = &PolicyFor(iteration);
  return state;
}

absl::Status Aggregator::CheckChunk(uint64_t iteration, int64_t chunk, const Payload& data) const {
  if (iteration < oldest_open_ || finished_.count(iteration)) {
    return absl::FailedPreconditionError(absl::StrCat("iteration ", iteration, " is already finished"));
  }
  if (chunk < 0 || chunk >= num_chunks_) {
    return absl::OutOfRangeError(absl::StrCat("chunk ", chunk, " is out of range [0, ", num_chunks_, ")"));
  }
  if (data == nullptr || static_cast<int64_t>(data->size()) != ChunkFloats(chunk)) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk ", chunk, " has ", data ? data->size() : 0, " values, expected ", ChunkFloats(chunk)));
  }
  return absl::OkStatus();
}

// The first input is kept by reference (a leaf forwards its own chunk without a
// copy); the second is summed with it into a new buffer in one pass; later ones
// are added in place.
void Aggregator::Accumulate(ChunkState& state, const Payload& data) {
  if (state.sum.empty() && state.first == nullptr) {
    state.first = data;
    return;
  }
  if (state.first != nullptr) {
    state.sum.resize(data->size());
    AddFloats(state.first->data(), data->data(), state.sum.data(), data->size());
    state.first.reset();
    return;
  }
  AddFloats(state.sum.data(), data->data(), state.sum.data(), data->size());
}

constexpr char kLayoutMismatch[] = "type.geostorm.io/layout-mismatch";

bool IsLayoutMismatch(const absl::Status& s) { return s.GetPayload(kLayoutMismatch).has_value(); }

absl::Status Aggregator::MatchLayout(ChunkState& state, int64_t chunk, const std::string& from, uint64_t layout) {
  if (!state.layout) state.layout = layout;
  if (*state.layout == layout) return absl::OkStatus();
  absl::Status s = absl::FailedPreconditionError(absl::StrCat(
      "chunk ", chunk, " from '", from, "' has tensor layout ", absl::Hex(layout), " where the others have ",
      absl::Hex(*state.layout), ": every worker must all-reduce the same tensor names and sizes"));
  s.SetPayload(kLayoutMismatch, absl::Cord());
  return s;
}

absl::Status Aggregator::OnLocal(uint64_t iteration, int64_t chunk, const std::string& contributor, const Payload& data,
                                 int contributors, uint64_t layout) {
  RETURN_IF_ERROR(CheckChunk(iteration, chunk, data));
  ChunkState& state = Iteration(iteration).chunks[chunk];
  if (state.local >= config_.local_contributors) {
    return absl::AlreadyExistsError(
        absl::StrCat("chunk ", chunk, " already has all ", config_.local_contributors, " local contributions"));
  }
  if (state.seen.count("local:" + contributor)) {
    return absl::AlreadyExistsError(absl::StrCat("duplicate chunk ", chunk, " from '", contributor, "'"));
  }
  RETURN_IF_ERROR(MatchLayout(state, chunk, contributor, layout));
  state.seen.insert("local:" + contributor);
  Accumulate(state, data);
  state.contributors += contributors;
  if (++state.local == config_.local_contributors) ++state.inputs;
  MaybeForward(iteration, chunk);
  return absl::OkStatus();
}

absl::Status Aggregator::OnPeer(const Envelope& in) {
  if (!in.route.empty()) {  // a relay: pass it on unread
    if (DcIndex(in.route.front()) < 0) {
      return absl::InvalidArgumentError(absl::StrCat("relay hop '", in.route.front(), "' is not a DC of the job"));
    }
    Envelope next = in;
    next.route.erase(next.route.begin());
    const double priority = Priority(in.iteration, in.shard, in.chunk);
    outgoing_.push_back({in.route.front(), std::move(next), priority});
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(CheckChunk(in.iteration, in.chunk, in.data));
  const core::Policy& policy = PolicyFor(in.iteration);
  if (in.policy_version != policy.version) {
    return absl::FailedPreconditionError(absl::StrCat("chunk for policy version ", in.policy_version, ", iteration ",
                                                      in.iteration, " uses ", policy.version));
  }
  const int shard = ShardOf(policy, in.chunk);
  if (shard != in.shard) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk ", in.chunk, " belongs to shard ", shard, ", not ", in.shard));
  }
  const int sender = DcIndex(in.sender);
  const core::ShardPlan& plan = policy.shards[shard];
  if (in.kind == ChunkKind::kReduce) {
    if (sender < 0 || plan.reduce_parent[sender] != self_) {
      return absl::PermissionDeniedError(
          absl::StrCat("'", in.sender, "' is not a reduce child of ", config_.data_center, " in shard ", shard));
    }
    ChunkState& state = Iteration(in.iteration).chunks[in.chunk];
    if (state.sent || state.seen.count(in.sender)) {
      return absl::AlreadyExistsError(absl::StrCat("duplicate reduce chunk ", in.chunk, " from '", in.sender, "'"));
    }
    RETURN_IF_ERROR(MatchLayout(state, in.chunk, in.sender, in.layout));
    state.seen.insert(in.sender);
    Accumulate(state, in.data);
    state.contributors += in.contributors;
    ++state.inputs;
    MaybeForward(in.iteration, in.chunk);
    return absl::OkStatus();
  }
  if (in.kind == ChunkKind::kBroadcast) {
    if (sender < 0 || plan.broadcast_parent[self_] != sender) {
      return absl::PermissionDeniedError(
          absl::StrCat("'", in.sender, "' is not the broadcast parent of ", config_.data_center, " in shard ", shard));
    }
    ChunkState& state = Iteration(in.iteration).chunks[in.chunk];
    if (state.delivered) {
      return absl::AlreadyExistsError(absl::StrCat("duplicate broadcast chunk ", in.chunk));
    }
    RETURN_IF_ERROR(MatchLayout(state, in.chunk, in.sender, in.layout));
    if (in.contributors != config_.total_contributors) {
      return absl::InvalidArgumentError(absl::StrCat("result chunk ", in.chunk, " sums ", in.contributors,
                                                     " contributors, expected ", config_.total_contributors));
    }
    Deliver(in.iteration, in.chunk, in.contributors, in.data);
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError("a peer gateway may only send reduce or broadcast chunks");
}

void Aggregator::MaybeForward(uint64_t iteration, int64_t chunk) {
  IterationState& it = iterations_[iteration];
  ChunkState& state = it.chunks[chunk];
  const core::Policy& policy = *it.policy;
  const int shard = ShardOf(policy, chunk);
  const core::ShardPlan& plan = policy.shards[shard];
  int children = 0;
  for (int p : plan.reduce_parent) children += p == self_;
  if (state.sent || state.inputs < 1 + children) return;
  state.sent = true;
  Payload data = state.first != nullptr ? std::move(state.first) : std::make_shared<const Floats>(std::move(state.sum));
  state.first.reset();
  state.sum.clear();
  if (plan.root == self_) {
    if (!policy.phase_barrier) {
      Deliver(iteration, chunk, state.contributors, std::move(data));
      return;
    }
    // Push, then pull: the shard's sum goes out only once all of it is reduced.
    std::vector<std::pair<int64_t, Payload>>& held = it.held[shard];
    held.emplace_back(chunk, std::move(data));
    if (static_cast<int64_t>(held.size()) < plan.num_chunks) return;
    const int contributors = state.contributors;
    std::vector<std::pair<int64_t, Payload>> ready = std::move(held);
    std::sort(ready.begin(), ready.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
    for (auto& [k, sum] : ready) Deliver(iteration, k, contributors, std::move(sum));
    return;
  }
  Envelope up{ChunkKind::kReduce,
              iteration,
              policy.version,
              shard,
              chunk,
              state.contributors,
              config_.data_center,
              {},
              std::move(data),
              state.layout.value_or(0)};
  SendOverEdge(std::move(up), policy, core::Phase::kReduce, plan.reduce_parent[self_]);
}

void Aggregator::Deliver(uint64_t iteration, int64_t chunk, int contributors, Payload data) {
  IterationState& it = iterations_[iteration];
  ChunkState& state = it.chunks[chunk];
  state.delivered = true;
  const core::Policy& policy = *it.policy;
  const int shard = ShardOf(policy, chunk);
  const core::ShardPlan& plan = policy.shards[shard];
  for (size_t v = 0; v < plan.broadcast_parent.size(); ++v) {
    if (plan.broadcast_parent[v] != self_) continue;
    Envelope down{
        ChunkKind::kBroadcast,   iteration, policy.version, shard, chunk, contributors, config_.data_center, {}, data,
        state.layout.value_or(0)};
    SendOverEdge(std::move(down), policy, core::Phase::kBroadcast, static_cast<int>(v));
  }
  results_.push_back({iteration, chunk, contributors, std::move(data)});
  if (++it.delivered == num_chunks_) {
    iterations_.erase(iteration);
    finished_.insert(iteration);
    while (finished_.count(oldest_open_)) finished_.erase(oldest_open_++);
    PrunePolicies();
  }
}

void Aggregator::SendOverEdge(Envelope chunk, const core::Policy& policy, core::Phase phase, int to) {
  std::vector<std::vector<std::string>> paths = {{policy.data_centers[to]}};
  for (const core::AuxRoute& a : policy.aux_routes) {
    if (a.shard != chunk.shard || a.phase != phase || a.path.front() != self_ || a.path.back() != to) continue;
    std::vector<std::string> hops;
    for (size_t h = 1; h < a.path.size(); ++h) hops.push_back(policy.data_centers[a.path[h]]);
    paths.push_back(std::move(hops));
  }
  const int64_t bytes = static_cast<int64_t>(chunk.data->size() * sizeof(float));
  const size_t pick = paths.size() > 1 && chooser_ ? std::min(chooser_(paths, bytes), paths.size() - 1) : 0;
  std::vector<std::string>& hops = paths[pick];
  const std::string first = hops.front();
  chunk.route.assign(hops.begin() + 1, hops.end());
  const double priority = Priority(chunk.iteration, chunk.shard, chunk.chunk);
  outgoing_.push_back({first, std::move(chunk), priority});
}

std::vector<uint64_t> Aggregator::Abandon(uint64_t before_iteration) {
  std::vector<uint64_t> failed;
  for (auto it = iterations_.begin(); it != iterations_.end() && it->first < before_iteration;) {
    failed.push_back(it->first);
    it = iterations_.erase(it);
  }
  oldest_open_ = std::max(oldest_open_, before_iteration);
  finished_.erase(finished_.begin(), finished_.lower_bound(oldest_open_));
  PrunePolicies();
  return failed;
}

std::vector<Outgoing> Aggregator::TakeOutgoing() { return std::exchange(outgoing_, {}); }
std::vector<Result> Aggregator::TakeResults() { return std::exchange(results_, {}); }

}  // namespace geostorm::sidecar
