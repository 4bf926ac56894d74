#include "core/planner/fapt.h"

#include <algorithm>
#include <numeric>

#include "core/planner/aux_routes.h"
#include "core/planner/strategies.h"
#include "core/planner/trees.h"

namespace geostorm::core {

double AggregateForwardDelay(const NetworkView& view, const std::vector<int>& parent) {
  const std::vector<int> depth = Depths(parent);
  std::vector<double> slowest(parent.size() + 1, 0);
  for (size_t v = 0; v < parent.size(); ++v) {
    if (parent[v] < 0) continue;
    slowest[depth[v]] = std::max(slowest[depth[v]], 1.0 / view.Rate(static_cast<int>(v), parent[v]));
  }
  return std::accumulate(slowest.begin(), slowest.end(), 0.0);
}

namespace {

constexpr int kDefaultRoots = 3;

class FaptPlanner : public Planner {
 public:
  std::string name() const override { return "netstorm-paper"; }
  Overlay overlay() const override { return Overlay::kNeighbours; }

 protected:
  absl::StatusOr<Policy> Build(const NetworkView& view, const PlanOptions& options) const override {
    struct Candidate {
      double score;
      int root;
      std::vector<int> tree;
    };
    std::vector<Candidate> candidates;
    for (int r = 0; r < view.size(); ++r) {
      std::vector<int> tree = ShortestPathTree(view, r, Phase::kReduce, InverseRate(view));
      if (!tree.empty() && HasReverseLinks(view, tree, Phase::kReduce)) {
        candidates.push_back({AggregateForwardDelay(view, tree), r, std::move(tree)});
      }
    }
    if (candidates.empty()) return absl::InvalidArgumentError("netstorm-paper: no DC can reach all others");
    std::stable_sort(candidates.begin(), candidates.end(),
                     [](const Candidate& a, const Candidate& b) { return a.score < b.score; });
    const size_t keep = std::min<size_t>(candidates.size(), options.roots > 0 ? options.roots : kDefaultRoots);
    candidates.resize(keep);

    std::vector<double> shares;
    std::vector<int> roots;
    std::vector<std::vector<int>> trees;
    for (const Candidate& c : candidates) {
      shares.push_back(1.0 / c.score);
      roots.push_back(c.root);
      trees.push_back(c.tree);
    }
    Policy p = EmptyPolicy(view, name(), options);
    AppendShards(p, SplitChunks(shares, view.num_chunks()), roots, trees, trees);
    if (options.multipath) AddAuxRoutes(view, p);
    return p;
  }
};

}  // namespace

std::unique_ptr<Planner> MakeFaptPlanner() { return std::make_unique<FaptPlanner>(); }

}  // namespace geostorm::core
