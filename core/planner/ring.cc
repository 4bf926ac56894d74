// ring: ring all-reduce (reduce-scatter, then all-gather), as NCCL and Gloo run it.
// Shard i is reduced along the ring ending at DC order[i] and then passed on
// around the ring, so every ring link carries 2 (N-1)/N of the model. The order is
// bandwidth-aware: it maximises the slowest ring link (greedy from every start,
// then 2-opt moves while they help).
#include <algorithm>
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/planner/strategies.h"
#include "core/planner/trees.h"

namespace geostorm::core {
namespace {

double Bottleneck(const NetworkView& view, const std::vector<int>& order) {
  double worst = std::numeric_limits<double>::infinity();
  for (size_t i = 0; i < order.size(); ++i) worst = std::min(worst, view.Rate(order[i], order[(i + 1) % order.size()]));
  return worst;
}

std::vector<int> RingOrder(const NetworkView& view) {
  const int n = view.size();
  std::vector<int> best;
  double best_rate = -1;
  for (int start = 0; start < n; ++start) {
    std::vector<int> order = {start};
    std::vector<bool> used(n, false);
    used[start] = true;
    while (static_cast<int>(order.size()) < n) {
      int next = -1;
      for (int v = 0; v < n; ++v) {
        if (!used[v] && (next < 0 || view.Rate(order.back(), v) > view.Rate(order.back(), next))) next = v;
      }
      used[next] = true;
      order.push_back(next);
    }
    const double rate = Bottleneck(view, order);
    if (rate > best_rate) {
      best_rate = rate;
      best = order;
    }
  }
  for (bool improved = true; improved;) {  // 2-opt on the bottleneck
    improved = false;
    for (int i = 1; i + 1 < n && !improved; ++i) {
      for (int j = i + 1; j < n && !improved; ++j) {
        std::vector<int> candidate = best;
        std::reverse(candidate.begin() + i, candidate.begin() + j + 1);
        const double rate = Bottleneck(view, candidate);
        if (rate > best_rate * (1 + 1e-9)) {
          best_rate = rate;
          best = candidate;
          improved = true;
        }
      }
    }
  }
  return best;
}

class RingPlanner : public Planner {
 public:
  std::string name() const override { return "ring"; }
  Overlay overlay() const override { return Overlay::kAllPairs; }

 protected:
  absl::StatusOr<Policy> Build(const NetworkView& view, const PlanOptions& options) const override {
    const int n = view.size();
    const std::vector<int> order = RingOrder(view);
    if (Bottleneck(view, order) <= 0)
      return absl::InvalidArgumentError("ring: no order of the DCs forms a ring of links");
    std::vector<int> roots;
    std::vector<std::vector<int>> reduce, broadcast;
    for (int i = 0; i < n; ++i) {
      std::vector<int> up(n, -1), down(n, -1);
      for (int j = 1; j < n; ++j) {
        const int v = order[(i + j) % n];
        up[v] = order[(i + j + 1) % n];
        down[v] = order[(i + j - 1) % n];
      }
      roots.push_back(order[i]);
      reduce.push_back(up);
      broadcast.push_back(down);
    }
    Policy p = EmptyPolicy(view, name(), options);
    AppendShards(p, SplitChunks(std::vector<double>(n, 1.0), view.num_chunks()), roots, reduce, broadcast);
    return p;
  }
};

}  // namespace

std::unique_ptr<Planner> MakeRingPlanner() { return std::make_unique<RingPlanner>(); }

}  // namespace geostorm::core
