// tsengine: TSEngine (TNSM'21) greedy throughput-aware trees from one root.
// Reduce: in rounds, every DC still holding a partial sum is paired with the
// partner it reaches over its best known link and sends its sum there (the root
// never sends), until only the root holds one. Broadcast: grow an out-tree from
// the root, each time adding the best known link from the tree to a DC outside it.
// (TSEngine also explores links it has no estimate for; with a full view every
// link is known, so there is nothing to explore here.)
#include <algorithm>

#include "core/planner/strategies.h"
#include "core/planner/trees.h"

namespace geostorm::core {
namespace {

int BestConnected(const NetworkView& view) {
  int best = 0;
  double best_rate = -1;
  for (int v = 0; v < view.size(); ++v) {
    double in = 0, out = 0;
    for (int l : view.in_links(v)) in += view.links()[l].bytes_per_s;
    for (int l : view.out_links(v)) out += view.links()[l].bytes_per_s;
    if (std::min(in, out) > best_rate) {
      best_rate = std::min(in, out);
      best = v;
    }
  }
  return best;
}

std::vector<int> PairingReduceTree(const NetworkView& view, int root) {
  const int n = view.size();
  std::vector<int> parent(n, -1);
  std::vector<bool> holding(n, true);
  for (int remaining = n; remaining > 1;) {
    std::vector<bool> paired(n, false);
    bool progress = false;
    for (;;) {  // greedy matching on the best link among unpaired holders
      int from = -1, to = -1;
      double rate = 0;
      for (int u = 0; u < n; ++u) {
        if (!holding[u] || paired[u] || u == root) continue;
        for (int v = 0; v < n; ++v) {
          if (v != u && holding[v] && !paired[v] && view.Rate(u, v) > rate) {
            rate = view.Rate(u, v);
            from = u;
            to = v;
          }
        }
      }
      if (from < 0) break;
      parent[from] = to;
      holding[from] = false;
      paired[from] = paired[to] = true;
      --remaining;
      progress = true;
    }
    if (!progress) return {};
  }
  return parent;
}

std::vector<int> GreedyBroadcastTree(const NetworkView& view, int root) {
  const int n = view.size();
  std::vector<int> parent(n, -1);
  std::vector<bool> in_tree(n, false);
  in_tree[root] = true;
  for (int added = 1; added < n; ++added) {
    int from = -1, to = -1;
    double rate = 0;
    for (int u = 0; u < n; ++u) {
      if (!in_tree[u]) continue;
      for (int v = 0; v < n; ++v) {
        if (!in_tree[v] && view.Rate(u, v) > rate) {
          rate = view.Rate(u, v);
          from = u;
          to = v;
        }
      }
    }
    if (from < 0) return {};
    parent[to] = from;
    in_tree[to] = true;
  }
  return parent;
}

class TsenginePlanner : public Planner {
 public:
  std::string name() const override { return "tsengine"; }
  Overlay overlay() const override { return Overlay::kAllPairs; }

 protected:
  absl::StatusOr<Policy> Build(const NetworkView& view, const PlanOptions& options) const override {
    const int root = BestConnected(view);
    std::vector<int> reduce = PairingReduceTree(view, root);
    std::vector<int> broadcast = GreedyBroadcastTree(view, root);
    if (reduce.empty() || broadcast.empty()) return absl::InvalidArgumentError("tsengine: the DCs are not connected");
    Policy p = EmptyPolicy(view, name(), options);
    p.shards.push_back({root, 0, view.num_chunks(), reduce, broadcast});
    return p;
  }
};

}  // namespace

std::unique_ptr<Planner> MakeTsenginePlanner() { return std::make_unique<TsenginePlanner>(); }

}  // namespace geostorm::core
