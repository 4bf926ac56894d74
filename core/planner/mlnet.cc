// mlnet: MLNET (HotCloud'15) static aggregation trees: one balanced binary tree per
// server, every DC a server of an equal slice, built from the DC order alone and
// blind to bandwidth. The broadcast goes back down the same tree.
#include "absl/strings/str_cat.h"
#include "core/planner/strategies.h"
#include "core/planner/trees.h"

namespace geostorm::core {
namespace {

constexpr int kFanIn = 2;

class MlnetPlanner : public Planner {
 public:
  std::string name() const override { return "mlnet"; }
  Overlay overlay() const override { return Overlay::kAllPairs; }

 protected:
  absl::StatusOr<Policy> Build(const NetworkView& view, const PlanOptions& options) const override {
    const int n = view.size();
    std::vector<int> roots;
    std::vector<std::vector<int>> trees;
    for (int r = 0; r < n; ++r) {
      // Heap layout over the DCs in index order, rotated to start at r.
      std::vector<int> parent(n, -1);
      for (int pos = 1; pos < n; ++pos) {
        const int v = (r + pos) % n;
        const int u = (r + (pos - 1) / kFanIn) % n;
        if (!view.HasLink(v, u) || !view.HasLink(u, v)) {
          return absl::InvalidArgumentError(
              absl::StrCat("mlnet: no link between '", view.dcs()[v], "' and '", view.dcs()[u], "'"));
        }
        parent[v] = u;
      }
      roots.push_back(r);
      trees.push_back(parent);
    }
    Policy p = EmptyPolicy(view, name(), options);
    AppendShards(p, SplitChunks(std::vector<double>(n, 1.0), view.num_chunks()), roots, trees, trees);
    return p;
  }
};

}  // namespace

std::unique_ptr<Planner> MakeMlnetPlanner() { return std::make_unique<MlnetPlanner>(); }

}  // namespace geostorm::core
