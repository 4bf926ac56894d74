#include "core/planner/tree_packing.h"

#include <glpk.h>

#include <algorithm>
#include <map>
#include <memory>

#include "core/planner/aux_routes.h"
#include "core/planner/strategies.h"
#include "core/planner/trees.h"
#include "core/sim/simulator.h"

namespace geostorm::core {
namespace {

// Row layout: 1 = shares sum to one; 2..n+1 = per root, reduced == broadcast;
// then one row per resource. Column 1 is T.
class PackingLp {
 public:
  explicit PackingLp(const NetworkView& view) : view_(view), lp_(glp_create_prob(), glp_delete_prob) {
    double fastest = 0;
    for (const Resource& r : view.resources()) fastest = std::max(fastest, r.bytes_per_s);
    unit_rate_ = fastest;
    glp_set_obj_dir(lp_.get(), GLP_MIN);
    const int n = view.size();
    const int nres = static_cast<int>(view.resources().size());
    glp_add_rows(lp_.get(), 1 + n + nres);
    glp_set_row_bnds(lp_.get(), 1, GLP_FX, 1, 1);
    for (int r = 0; r < n; ++r) glp_set_row_bnds(lp_.get(), 2 + r, GLP_FX, 0, 0);
    for (int e = 0; e < nres; ++e) glp_set_row_bnds(lp_.get(), ResourceRow(e), GLP_UP, 0, 0);
    glp_add_cols(lp_.get(), 1);
    glp_set_col_bnds(lp_.get(), 1, GLP_LO, 0, 0);
    glp_set_obj_coef(lp_.get(), 1, 1);
    std::vector<int> rows = {0};
    std::vector<double> values = {0};
    for (int e = 0; e < nres; ++e) {
      rows.push_back(ResourceRow(e));
      values.push_back(-view.resources()[e].bytes_per_s / unit_rate_);
    }
    glp_set_mat_col(lp_.get(), 1, nres, rows.data(), values.data());
  }

  void AddTree(int root, Phase phase, std::vector<int> parent) {
    std::map<int, double> coef;
    if (phase == Phase::kReduce) coef[1] = 1;
    coef[2 + root] = phase == Phase::kReduce ? 1 : -1;
    ShardPlan shard{root, 0, 0, parent, parent};
    for (auto [from, to] : TreeEdges(shard, phase)) {
      for (int e : view_.link(from, to).resources) coef[ResourceRow(e)] += 1;
    }
    std::vector<int> rows = {0};
    std::vector<double> values = {0};
    for (auto [row, value] : coef) {
      rows.push_back(row);
      values.push_back(value);
    }
    const int col = glp_add_cols(lp_.get(), 1);
    glp_set_col_bnds(lp_.get(), col, GLP_LO, 0, 0);
    glp_set_mat_col(lp_.get(), col, static_cast<int>(rows.size()) - 1, rows.data(), values.data());
    trees_.push_back({root, phase, std::move(parent), 0});
  }

  bool Solve() {
    glp_smcp params;
    glp_init_smcp(&params);
    params.msg_lev = GLP_MSG_OFF;
    return glp_simplex(lp_.get(), &params) == 0 && glp_get_status(lp_.get()) == GLP_OPT;
  }

  // Seconds for the whole model at the current solution.
  double Seconds() const { return glp_get_obj_val(lp_.get()) * static_cast<double>(view_.model_bytes()) / unit_rate_; }
  double SumDual() const { return glp_get_row_dual(lp_.get(), 1); }
  double RootDual(int root) const { return glp_get_row_dual(lp_.get(), 2 + root); }
  // The price of a byte on each resource (>= 0).
  double Price(int e) const { return -glp_get_row_dual(lp_.get(), ResourceRow(e)); }

  std::vector<PackedTree> Trees() const {
    std::vector<PackedTree> out;
    for (size_t i = 0; i < trees_.size(); ++i) {
      const double share = glp_get_col_prim(lp_.get(), static_cast<int>(i) + 2);
      if (share > 1e-9) {
        out.push_back(trees_[i]);
        out.back().share = share;
      }
    }
    return out;
  }

 private:
  int ResourceRow(int e) const { return 2 + view_.size() + e; }

  const NetworkView& view_;
  std::unique_ptr<glp_prob, decltype(&glp_delete_prob)> lp_;
  double unit_rate_ = 1;
  std::vector<PackedTree> trees_;
};

double TreeCost(const NetworkView& view, const std::vector<int>& parent, Phase phase, const LinkCost& cost) {
  double total = 0;
  ShardPlan shard{0, 0, 0, parent, parent};
  for (auto [from, to] : TreeEdges(shard, phase)) total += cost(view.LinkIndex(from, to));
  return total;
}

}  // namespace

Packing PackTrees(const NetworkView& view, int max_iterations) {
  PackingLp lp(view);
  const int n = view.size();
  for (int r = 0; r < n; ++r) {
    for (Phase phase : {Phase::kReduce, Phase::kBroadcast}) {
      std::vector<int> tree = MinCostTree(view, r, phase, InverseRate(view));
      if (tree.empty()) return {};
      lp.AddTree(r, phase, std::move(tree));
    }
  }
  Packing packing;
  for (; packing.iterations < max_iterations; ++packing.iterations) {
    if (!lp.Solve()) return {};
    std::vector<double> link_price(view.links().size(), 0);
    for (size_t i = 0; i < view.links().size(); ++i) {
      for (int e : view.links()[i].resources) link_price[i] += lp.Price(e);
    }
    const LinkCost price = [&](int link) { return link_price[link]; };
    // Ties between equally priced trees go to the faster links.
    const LinkCost priced = [&](int link) { return link_price[link] + 1e-9 / view.links()[link].bytes_per_s; };
    int added = 0;
    for (int r = 0; r < n; ++r) {
      for (Phase phase : {Phase::kReduce, Phase::kBroadcast}) {
        std::vector<int> tree = MinCostTree(view, r, phase, priced);
        const double cost = TreeCost(view, tree, phase, price);
        const double reduced = phase == Phase::kReduce ? cost - lp.SumDual() - lp.RootDual(r) : cost + lp.RootDual(r);
        if (reduced < -1e-9) {
          lp.AddTree(r, phase, std::move(tree));
          ++added;
        }
      }
    }
    if (added == 0) break;
  }
  if (!lp.Solve()) return {};
  packing.trees = lp.Trees();
  packing.fluid_seconds = lp.Seconds();
  return packing;
}

namespace {

// Pairs each root's reduce shares with its broadcast shares (they sum to the
// same amount) into shards.
void AppendPackedShards(const Packing& packing, Policy& policy) {
  std::vector<double> shares;
  std::vector<int> roots;
  std::vector<std::vector<int>> reduce, broadcast;
  std::map<int, std::vector<PackedTree>> ups, downs;
  for (const PackedTree& t : packing.trees) (t.phase == Phase::kReduce ? ups : downs)[t.root].push_back(t);
  for (auto& [root, up] : ups) {
    std::vector<PackedTree>& down = downs[root];
    size_t i = 0, j = 0;
    while (i < up.size() && j < down.size()) {
      const double share = std::min(up[i].share, down[j].share);
      shares.push_back(share);
      roots.push_back(root);
      reduce.push_back(up[i].parent);
      broadcast.push_back(down[j].parent);
      up[i].share -= share;
      down[j].share -= share;
      if (up[i].share <= 1e-12) ++i;
      if (down[j].share <= 1e-12) ++j;
    }
  }
  AppendShards(policy, SplitChunks(shares, policy.num_chunks()), roots, reduce, broadcast);
}

class TreePackingPlanner : public Planner {
 public:
  std::string name() const override { return "netstorm"; }
  Overlay overlay() const override { return Overlay::kNeighbours; }

 protected:
  absl::StatusOr<Policy> Build(const NetworkView& view, const PlanOptions& options) const override {
    const Packing packing = PackTrees(view);
    if (packing.trees.empty()) return absl::InvalidArgumentError("netstorm: no set of trees spans the DCs");
    Policy p = EmptyPolicy(view, name(), options);
    AppendPackedShards(packing, p);
    if (!options.multipath) return p;
    Policy with_aux = p;
    AddAuxRoutes(view, with_aux);
    if (with_aux.aux_routes.empty()) return p;
    absl::StatusOr<SimResult> plain = Simulate(view, p);
    absl::StatusOr<SimResult> relayed = Simulate(view, with_aux);
    if (plain.ok() && relayed.ok() && relayed->iteration_seconds < plain->iteration_seconds) return with_aux;
    return p;
  }
};

}  // namespace

std::unique_ptr<Planner> MakeTreePackingPlanner() { return std::make_unique<TreePackingPlanner>(); }

}  // namespace geostorm::core
