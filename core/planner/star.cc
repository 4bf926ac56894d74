// star and sharded-ps: parameter servers, push then pull (MXNet ps-lite semantics:
// a server returns a key's sum only once it holds every contribution).
#include <limits>

#include "absl/strings/str_cat.h"
#include "core/planner/link_load.h"
#include "core/planner/strategies.h"
#include "core/planner/trees.h"

namespace geostorm::core {
namespace {

// Every DC pushes straight to `root` and pulls straight from it.
absl::StatusOr<std::vector<int>> StarTree(const NetworkView& view, int root) {
  std::vector<int> parent(view.size(), root);
  parent[root] = -1;
  for (int v = 0; v < view.size(); ++v) {
    if (v == root) continue;
    if (!view.HasLink(v, root) || !view.HasLink(root, v)) {
      return absl::InvalidArgumentError(
          absl::StrCat("no direct route between '", view.dcs()[v], "' and server '", view.dcs()[root], "'"));
    }
  }
  return parent;
}

class StarPlanner : public Planner {
 public:
  std::string name() const override { return "star"; }
  Overlay overlay() const override { return Overlay::kAllPairs; }

 protected:
  absl::StatusOr<Policy> Build(const NetworkView& view, const PlanOptions& options) const override {
    if (options.star_root >= view.size()) {
      return absl::InvalidArgumentError(absl::StrCat("star root ", options.star_root, " is not a DC"));
    }
    std::vector<int> candidates;
    for (int v = 0; v < view.size(); ++v) {
      if (options.star_root < 0 || v == options.star_root) candidates.push_back(v);
    }
    // The best-connected server: the one whose push and pull finish soonest.
    absl::StatusOr<Policy> best = absl::InvalidArgumentError("no DC can serve as the star's server");
    double best_seconds = std::numeric_limits<double>::infinity();
    for (int root : candidates) {
      absl::StatusOr<std::vector<int>> tree = StarTree(view, root);
      if (!tree.ok()) {
        if (options.star_root >= 0) return tree.status();
        continue;
      }
      Policy p = EmptyPolicy(view, name(), options);
      p.phase_barrier = true;
      p.shards.push_back({root, 0, view.num_chunks(), *tree, *tree});
      const double seconds = FluidSeconds(view, p);
      if (seconds < best_seconds) {
        best_seconds = seconds;
        best = std::move(p);
      }
    }
    return best;
  }
};

class ShardedPsPlanner : public Planner {
 public:
  std::string name() const override { return "sharded-ps"; }
  Overlay overlay() const override { return Overlay::kAllPairs; }

 protected:
  absl::StatusOr<Policy> Build(const NetworkView& view, const PlanOptions& options) const override {
    Policy p = EmptyPolicy(view, name(), options);
    p.phase_barrier = true;
    std::vector<int> roots;
    std::vector<std::vector<int>> trees;
    for (int v = 0; v < view.size(); ++v) {
      absl::StatusOr<std::vector<int>> tree = StarTree(view, v);
      if (!tree.ok()) return tree.status();
      roots.push_back(v);
      trees.push_back(*tree);
    }
    AppendShards(p, SplitChunks(std::vector<double>(roots.size(), 1.0), view.num_chunks()), roots, trees, trees);
    return p;
  }
};

}  // namespace

std::unique_ptr<Planner> MakeStarPlanner() { return std::make_unique<StarPlanner>(); }
std::unique_ptr<Planner> MakeShardedPsPlanner() { return std::make_unique<ShardedPsPlanner>(); }

}  // namespace geostorm::core
