#include "core/sim/simulator.h"
#include "core/status_macros.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <queue>

namespace geostorm::core {
namespace {

struct Transfer {
  double priority = 0;  // the chunk's position in its shard, k / chunks
  int64_t seq = 0;      // enqueue order, to break ties
  int shard = 0;
  int64_t chunk = 0;  // index within the shard
  Phase phase = Phase::kReduce;
  const std::vector<int>* path = nullptr;  // DCs from sender to tree-edge receiver
  size_t hop = 0;                          // sending path[hop] -> path[hop + 1]
  double remaining = 0;
};

struct Later {
  bool operator()(const Transfer& a, const Transfer& b) const {
    return a.priority != b.priority ? a.priority > b.priority : a.seq > b.seq;
  }
};

// One overlay link's sender: the chunk on the wire, and the ready ones waiting.
struct LinkQueue {
  std::optional<Transfer> current;
  std::priority_queue<Transfer, std::vector<Transfer>, Later> waiting;
};

class Simulation {
 public:
  Simulation(const NetworkView& view, const Policy& policy) : view_(view), policy_(policy) {
    const size_t shards = policy.shards.size();
    reduce_children_.resize(shards);
    broadcast_children_.resize(shards);
    arrived_.resize(shards);
    reduced_chunks_.assign(shards, 0);
    for (size_t s = 0; s < shards; ++s) {
      const ShardPlan& plan = policy.shards[s];
      reduce_children_[s] = ChildrenOf(plan.reduce_parent);
      broadcast_children_[s] = ChildrenOf(plan.broadcast_parent);
      arrived_[s].assign(plan.num_chunks * view.size(), 0);
    }
    for (const AuxRoute& a : policy.aux_routes) {
      aux_[{a.shard, static_cast<int>(a.phase), a.path.front(), a.path.back()}].push_back(&a);
    }
    direct_.reserve(view.links().size());
    for (const OverlayLink& l : view.links()) direct_.push_back({l.from, l.to});
    queues_.resize(view.links().size());
    result_.resource_bytes.assign(view.resources().size(), 0);
    dedicated_ = NoSharedResource();
    users_.assign(view.resources().size(), 0);
    capacity_left_.assign(view.resources().size(), 0);
  }

  SimResult Run() {
    const int n = view_.size();
    // Leaves of every reduce tree start sending at once, chunk by chunk.
    for (size_t s = 0; s < policy_.shards.size(); ++s) {
      for (int v = 0; v < n; ++v) {
        if (reduce_children_[s][v].empty()) {
          for (int64_t k = 0; k < policy_.shards[s].num_chunks; ++k) ReduceReady(static_cast<int>(s), k, v);
        }
      }
    }
    while (Step()) {
    }
    result_.iteration_seconds = now_;
    result_.resource_utilisation.resize(view_.resources().size());
    for (size_t r = 0; r < view_.resources().size(); ++r) {
      const double capacity = view_.resources()[r].bytes_per_s * now_;
      result_.resource_utilisation[r] = capacity > 0 ? result_.resource_bytes[r] / capacity : 0;
    }
    return result_;
  }

 private:
  // True when no two overlay links the policy uses cross the same resource: then
  // every transfer runs at its link's rate from start to end, and the simulation
  // is a plain event queue of completion times.
  bool NoSharedResource() const {
    std::vector<int> user(view_.resources().size(), -1);
    auto claim = [&](int from, int to) {
      const int link = view_.LinkIndex(from, to);
      for (int r : view_.links()[link].resources) {
        if (user[r] >= 0 && user[r] != link) return false;
        user[r] = link;
      }
      return true;
    };
    for (const ShardPlan& shard : policy_.shards) {
      for (Phase phase : {Phase::kReduce, Phase::kBroadcast}) {
        for (auto [from, to] : TreeEdges(shard, phase)) {
          if (!claim(from, to)) return false;
        }
      }
    }
    for (const AuxRoute& a : policy_.aux_routes) {
      for (size_t h = 0; h + 1 < a.path.size(); ++h) {
        if (!claim(a.path[h], a.path[h + 1])) return false;
      }
    }
    return true;
  }

  // The bytes chunk k of a shard puts on the wire: its payload and TCP's framing.
  double WireBytes(int shard, int64_t k) const {
    return static_cast<double>(policy_.BytesOf(policy_.shards[shard].first_chunk + k, 1)) / kTcpPayloadShare;
  }

  // The path chunk k takes over tree edge from -> to: aux routes take their
  // fraction of the chunks, spread by a golden-ratio sequence so they interleave.
  const std::vector<int>& Route(int shard, Phase phase, int from, int to, int64_t k) const {
    const std::vector<int>& direct = direct_[view_.LinkIndex(from, to)];
    if (aux_.empty()) return direct;
    const auto it = aux_.find({shard, static_cast<int>(phase), from, to});
    if (it == aux_.end()) return direct;
    double x = std::fmod(static_cast<double>(k) * 0.6180339887498949, 1.0);
    for (const AuxRoute* a : it->second) {
      if (x < a->fraction) return a->path;
      x -= a->fraction;
    }
    return direct;
  }

  void Send(int shard, int64_t k, Phase phase, int from, int to) {
    // Parameter servers take chunks in key order; our trees take the chunk furthest
    // behind in its shard first.
    const double position =
        policy_.phase_barrier ? 0 : static_cast<double>(k) / static_cast<double>(policy_.shards[shard].num_chunks);
    Transfer t{position, 0, shard, k, phase, &Route(shard, phase, from, to, k), 0, WireBytes(shard, k)};
    Enqueue(t);
  }

  // A sender never preempts the chunk on the wire; among waiting chunks it picks
  // the one furthest behind in its shard, so that all shards advance together and
  // finish at the same time, as the planner's shares assume.
  void Enqueue(Transfer t) {
    const int link = view_.LinkIndex((*t.path)[t.hop], (*t.path)[t.hop + 1]);
    t.seq = next_seq_++;
    LinkQueue& q = queues_[link];
    if (q.current) {
      q.waiting.push(t);
    } else {
      Start(link, t);
    }
  }

  void Start(int link, const Transfer& t) {
    queues_[link].current = t;
    if (dedicated_) {
      finishes_.push({now_ + t.remaining / view_.links()[link].bytes_per_s, link});
    } else {
      active_.push_back(link);
    }
  }

  // Takes the finished transfer off `link`, starts the next one waiting there, and
  // returns the finished one.
  Transfer Finish(int link) {
    LinkQueue& q = queues_[link];
    Transfer t = *q.current;
    q.current.reset();
    const double bytes = WireBytes(t.shard, t.chunk);
    for (int r : view_.links()[link].resources) result_.resource_bytes[r] += dedicated_ ? bytes : 0;
    if (!q.waiting.empty()) {
      Transfer next = q.waiting.top();
      q.waiting.pop();
      Start(link, next);
    }
    return t;
  }

  // A chunk reached the end of one hop.
  void Arrive(Transfer t) {
    ++result_.transfers;
    ++t.hop;
    if (t.hop + 1 < t.path->size()) {  // a relay passes it on unread
      t.remaining = WireBytes(t.shard, t.chunk);
      Enqueue(t);
    } else {
      Deliver(t.shard, t.chunk, t.phase, t.path->back());
    }
  }

  // A DC has chunk k's full subtree sum: pass it up, or start the broadcast.
  void ReduceReady(int shard, int64_t k, int v) {
    const ShardPlan& plan = policy_.shards[shard];
    if (v != plan.root) {
      Send(shard, k, Phase::kReduce, v, plan.reduce_parent[v]);
      return;
    }
    ++reduced_chunks_[shard];
    if (!policy_.phase_barrier) {
      Deliver(shard, k, Phase::kBroadcast, v);
    } else if (reduced_chunks_[shard] == plan.num_chunks) {
      for (int64_t j = 0; j < plan.num_chunks; ++j) Deliver(shard, j, Phase::kBroadcast, v);
    }
  }

  void Deliver(int shard, int64_t k, Phase phase, int v) {
    if (phase == Phase::kReduce) {
      int& count = arrived_[shard][k * view_.size() + v];
      if (++count == static_cast<int>(reduce_children_[shard][v].size())) ReduceReady(shard, k, v);
      return;
    }
    for (int child : broadcast_children_[shard][v]) Send(shard, k, Phase::kBroadcast, v, child);
  }

  // Rates by max-min fair sharing of the resources among the active transfers
  // (progressive filling: the tightest resource fixes its users' rate, repeat).
  void ShareRates() {
    rate_.assign(view_.links().size(), 0);
    std::vector<int> touched;
    for (int link : active_) {
      for (int r : view_.links()[link].resources) {
        if (users_[r] == 0) {
          touched.push_back(r);
          capacity_left_[r] = view_.resources()[r].bytes_per_s;
        }
        ++users_[r];
      }
    }
    std::vector<int> unfrozen = active_;
    while (!unfrozen.empty()) {
      double share = std::numeric_limits<double>::infinity();
      int tightest = -1;
      for (int r : touched) {
        if (users_[r] > 0 && capacity_left_[r] / users_[r] < share) {
          share = capacity_left_[r] / users_[r];
          tightest = r;
        }
      }
      std::vector<int> still;
      for (int link : unfrozen) {
        const auto& route = view_.links()[link].resources;
        if (std::find(route.begin(), route.end(), tightest) == route.end()) {
          still.push_back(link);
          continue;
        }
        rate_[link] = share;
        for (int r : route) {
          capacity_left_[r] -= share;
          --users_[r];
        }
      }
      unfrozen.swap(still);
    }
  }

  // Advances to the next transfer completion. False when nothing is in flight.
  bool Step() { return dedicated_ ? StepDedicated() : StepShared(); }

  bool StepDedicated() {
    if (finishes_.empty()) return false;
    const auto [at, link] = finishes_.top();
    finishes_.pop();
    now_ = at;
    Arrive(Finish(link));
    return true;
  }

  bool StepShared() {
    if (active_.empty()) return false;
    ShareRates();
    double dt = std::numeric_limits<double>::infinity();
    for (int link : active_) dt = std::min(dt, queues_[link].current->remaining / rate_[link]);
    now_ += dt;
    std::vector<int> finished;
    std::vector<int> still;
    for (int link : active_) {
      Transfer& t = *queues_[link].current;
      const double sent = std::min(t.remaining, rate_[link] * dt);
      t.remaining -= sent;
      for (int r : view_.links()[link].resources) result_.resource_bytes[r] += sent;
      if (t.remaining <= 1e-9 * WireBytes(t.shard, t.chunk)) {
        finished.push_back(link);
      } else {
        still.push_back(link);
      }
    }
    active_.swap(still);
    std::vector<Transfer> done;
    done.reserve(finished.size());
    for (int link : finished) done.push_back(Finish(link));
    for (const Transfer& t : done) Arrive(t);
    return true;
  }

  const NetworkView& view_;
  const Policy& policy_;
  std::vector<std::vector<std::vector<int>>> reduce_children_, broadcast_children_;
  std::vector<std::vector<int>> arrived_;  // [shard][chunk * n + dc]: reduce inputs arrived
  std::vector<int64_t> reduced_chunks_;
  // Per tree edge (shard, phase, from, to) with aux routes, the routes.
  std::map<std::tuple<int, int, int, int>, std::vector<const AuxRoute*>> aux_;
  std::vector<std::vector<int>> direct_;  // per overlay link, its two DCs
  std::vector<LinkQueue> queues_;         // per overlay link
  int64_t next_seq_ = 0;
  bool dedicated_ = false;
  using Finishing = std::pair<double, int>;                                          // (time, link)
  std::priority_queue<Finishing, std::vector<Finishing>, std::greater<>> finishes_;  // dedicated mode
  std::vector<int> active_;  // shared mode: links with a transfer in flight
  std::vector<double> rate_;
  std::vector<int> users_;             // ShareRates scratch, per resource
  std::vector<double> capacity_left_;  // ShareRates scratch, per resource
  double now_ = 0;
  SimResult result_;
};

}  // namespace

absl::StatusOr<SimResult> Simulate(const NetworkView& view, const Policy& policy) {
  RETURN_IF_ERROR(ValidatePolicy(policy, view));
  return Simulation(view, policy).Run();
}

}  // namespace geostorm::core
