#include "core/planner/tree_packing.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <memory>
#include <numeric>

#include "core/planner/aux_routes.h"
#include "core/planner/chunk_assignment.h"
#include "core/planner/glpk.h"
#include "core/planner/strategies.h"
#include "core/planner/trees.h"
#include "core/sim/simulator.h"

namespace geostorm::core {
namespace {

// Solves take a few hundred to 1,757 iterations (the 64-DC mesh, 4,354 rows and
// columns); one that stalls is cut off at this many per row and column.
constexpr int kIterationsPerRowAndColumn = 5;

// Row layout: 1 = shares sum to one; 2..n+1 = per root, reduced == broadcast;
// then one row per resource. Column 1 is T.
class PackingLp {
 public:
  explicit PackingLp(const NetworkView& view) : view_(view), lp_(NewLpProblem()) {
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
    for (auto [from, to] : TreeEdges(parent, phase)) {
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

  // GLPK's primal simplex can stall on a degenerate vertex: on a 64-DC sparse WAN
  // it pivoted for minutes in phase 1 from the all-slack basis. A solve that runs
  // past its iteration limit starts again on the scaled problem from an advanced
  // basis, which solved that LP in 125 iterations.
  bool Solve() {
    glp_prob* lp = lp_.get();
    glp_smcp params;
    glp_init_smcp(&params);
    params.msg_lev = GLP_MSG_OFF;
    params.it_lim = kIterationsPerRowAndColumn * (glp_get_num_rows(lp) + glp_get_num_cols(lp));
    int ret = glp_simplex(lp, &params);
    if (ret == GLP_EITLIM) {
      glp_scale_prob(lp, GLP_SF_AUTO);
      glp_adv_basis(lp, 0);
      ret = glp_simplex(lp, &params);
    }
    return ret == 0 && glp_get_status(lp) == GLP_OPT;
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
  LpProblem lp_;
  double unit_rate_ = 1;
  std::vector<PackedTree> trees_;
};

// Rounds of seed trees per root: two give column generation a spread of trees to
// start from; without it (above 32 DCs) one is better. The LP then has half the
// columns, so a 64-DC mesh plans 3x faster, and a packing of fewer trees gives
// each more chunks to fill its pipeline (docs/planner.md).
int SeedRounds(int column_generation_rounds) { return column_generation_rounds > 0 ? 2 : 1; }

// Beyond this many DCs the LP has too many rows (one per link) to solve quickly,
// and the seed trees with equal shares are the packing. With every DC a root, 256
// DCs would leave each root under 4 of a 1 GB model's 954 chunks, too few to fill
// its trees' pipelines, so the planner tries n/2, n/4, n/8 and n/16 of the
// best-connected roots.
constexpr int kMaxDcsForLp = 64;

double TreeCost(const NetworkView& view, const std::vector<int>& parent, Phase phase, const LinkCost& cost) {
  double total = 0;
  for (auto [from, to] : TreeEdges(parent, phase)) total += cost(view.LinkIndex(from, to));
  return total;
}

// The `count` DCs that can move the most through their own links (the smaller of
// what they can send and receive), in index order.
std::vector<int> BestConnected(const NetworkView& view, int count) {
  std::vector<int> dcs(view.size());
  std::iota(dcs.begin(), dcs.end(), 0);
  if (count >= view.size()) return dcs;
  std::vector<double> in(view.size(), 0), out(view.size(), 0);
  for (const OverlayLink& l : view.links()) {
    out[l.from] += l.bytes_per_s;
    in[l.to] += l.bytes_per_s;
  }
  std::stable_sort(dcs.begin(), dcs.end(),
                   [&](int a, int b) { return std::min(in[a], out[a]) > std::min(in[b], out[b]); });
  dcs.resize(count);
  std::sort(dcs.begin(), dcs.end());
  return dcs;
}

// Starting columns: every root's trees built one after another, each avoiding the
// links the earlier ones loaded (multiplicative weights on each resource's busy
// time). With these, column generation starts near a good packing instead of
// from N copies of the same fastest tree.
// Each seed tree carries an equal share; `fluid_seconds` is that packing's time.
Packing SeedTrees(const NetworkView& view, int rounds, const std::vector<int>& roots) {
  const size_t nres = view.resources().size();
  Packing seeds;
  std::vector<double> busy(nres, 0);  // seconds per unit model
  double max_busy = 0;
  const double step = 1.0 / (static_cast<double>(roots.size()) * rounds);
  // The links over each resource: a tree changes the weight of the resources it
  // crosses only, unless it raises the largest load, which rescales every weight.
  std::vector<std::vector<int>> links_over(nres);
  for (size_t i = 0; i < view.links().size(); ++i) {
    for (int e : view.links()[i].resources) links_over[e].push_back(static_cast<int>(i));
  }
  std::vector<double> weight(nres, 1);
  std::vector<double> link_cost(view.links().size());
  auto update_link = [&](int i) {
    const OverlayLink& l = view.links()[i];
    double w = 0;
    for (int e : l.resources) w += weight[e];
    link_cost[i] = w / l.bytes_per_s;
  };
  for (size_t i = 0; i < link_cost.size(); ++i) update_link(static_cast<int>(i));
  std::vector<int> changed;
  for (int round = 0; round < rounds; ++round) {
    for (int r : roots) {
      for (Phase phase : {Phase::kReduce, Phase::kBroadcast}) {
        std::vector<int> tree = MinCostTree(view, r, phase, [&](int link) { return link_cost[link]; });
        if (tree.empty()) return {};
        const double max_before = max_busy;
        changed.clear();
        for (auto [from, to] : TreeEdges(tree, phase)) {
          for (int e : view.link(from, to).resources) {
            busy[e] += step / view.resources()[e].bytes_per_s;
            max_busy = std::max(max_busy, busy[e]);
            changed.push_back(e);
          }
        }
        if (max_busy != max_before) {
          for (size_t e = 0; e < nres; ++e) weight[e] = std::exp(4 * busy[e] / max_busy);
          for (size_t i = 0; i < link_cost.size(); ++i) update_link(static_cast<int>(i));
        } else {
          for (int e : changed) weight[e] = std::exp(4 * busy[e] / max_busy);
          for (int e : changed) {
            for (int i : links_over[e]) update_link(i);
          }
        }
        seeds.trees.push_back({r, phase, std::move(tree), step});
      }
    }
  }
  seeds.fluid_seconds = max_busy * static_cast<double>(view.model_bytes());
  return seeds;
}

}  // namespace

Packing PackTrees(const NetworkView& view, int max_iterations, int roots) {
  const int n = view.size();
  const bool budget_by_size = max_iterations < 0;
  if (budget_by_size) max_iterations = n <= 12 ? 40 : n <= 32 ? 10 : 0;
  Packing seeds = SeedTrees(view, SeedRounds(max_iterations), BestConnected(view, roots > 0 ? roots : n));
  if (seeds.trees.empty() || (budget_by_size && n > kMaxDcsForLp)) return seeds;
  // Should GLPK fail, the seed trees with equal shares are still a packing.
  PackingLp lp(view);
  for (const PackedTree& t : seeds.trees) lp.AddTree(t.root, t.phase, t.parent);
  Packing packing;
  for (; packing.iterations < max_iterations; ++packing.iterations) {
    if (!lp.Solve()) return seeds;
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
  if (!lp.Solve()) return seeds;
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

// Beyond this many DCs or candidate trees the chunk-assignment program is skipped
// for planning speed (branch and bound grows fast); LP shares are rounded instead.
constexpr int kMaxDcsForAssignment = 12;
constexpr size_t kMaxTreesForAssignment = 80;
// How much pipeline latency counts in the chunk assignment; the simulator picks
// the best of the resulting plans.
constexpr double kLatencyWeights[] = {0.25, 0.5, 1.0};
// Relays cost what the simulator does not charge (a relay's CPU and its queue
// behind its own tree traffic), and its ties between events move a plan's time by
// a few tenths of a percent. So a relayed plan is taken only when it beats the best
// plan without relays by this much: on klonet-9dc at 1/10 of the rates, one
// predicted 0.3% faster ran 17% slower live than the plan without its relays.
constexpr double kRelayGain = 0.02;

// The packing's trees plus, per root, the fastest-path trees: they have the
// lowest one-chunk latency, which the chunk assignment may trade for.
std::vector<PackedTree> CandidateTrees(const NetworkView& view, const Packing& packing) {
  std::vector<PackedTree> pool = packing.trees;
  for (int r = 0; r < view.size(); ++r) {
    for (Phase phase : {Phase::kReduce, Phase::kBroadcast}) {
      std::vector<int> tree = ShortestPathTree(view, r, phase, InverseRate(view));
      const bool known = std::any_of(pool.begin(), pool.end(), [&](const PackedTree& t) {
        return t.root == r && t.phase == phase && t.parent == tree;
      });
      if (!tree.empty() && !known) pool.push_back({r, phase, std::move(tree), 0});
    }
  }
  return pool;
}

class TreePackingPlanner : public Planner {
 public:
  std::string name() const override { return "netstorm"; }
  Overlay overlay() const override { return Overlay::kNeighbours; }

 protected:
  absl::StatusOr<Policy> Build(const NetworkView& view, const PlanOptions& options) const override {
    const int n = view.size();
    std::vector<Packing> packings;
    if (options.full_packing) {
      packings.push_back(PackTrees(view, std::numeric_limits<int>::max()));
    } else if (n <= kMaxDcsForLp) {
      packings.push_back(PackTrees(view));
    } else {
      for (int roots = n / 2; roots >= std::max(2, n / 16); roots /= 2) packings.push_back(PackTrees(view, -1, roots));
    }
    std::vector<Policy> candidates;
    for (const Packing& p : packings) {
      if (p.trees.empty()) continue;
      candidates.push_back(EmptyPolicy(view, name(), options));
      AppendPackedShards(p, candidates.back());
    }
    if (candidates.empty()) return absl::InvalidArgumentError("netstorm: no set of trees spans the DCs");
    const Packing& packing = packings.front();  // the only one up to kMaxDcsForAssignment
    for (double latency_weight : kLatencyWeights) {
      if (view.size() > kMaxDcsForAssignment) break;
      Packing assigned{CandidateTrees(view, packing), packing.fluid_seconds, packing.iterations};
      if (assigned.trees.size() > kMaxTreesForAssignment) break;
      if (AssignChunks(view, assigned.trees, latency_weight)) {
        candidates.push_back(EmptyPolicy(view, name(), options));
        AppendPackedShards(assigned, candidates.back());
      }
    }
    const size_t plain = candidates.size();
    if (options.multipath) {
      for (size_t i = 0; i < plain; ++i) {
        Policy relayed = candidates[i];
        AddAuxRoutes(view, relayed);
        if (!relayed.aux_routes.empty()) candidates.push_back(std::move(relayed));
      }
    }
    // The simulator decides: it sees pipeline latency, chunk rounding and sharing.
    auto fastest = [&](size_t from, size_t to) {
      std::pair<double, size_t> best{std::numeric_limits<double>::infinity(), from};
      for (size_t i = from; i < to; ++i) {
        absl::StatusOr<SimResult> sim = Simulate(view, candidates[i]);
        if (sim.ok() && sim->iteration_seconds < best.first) best = {sim->iteration_seconds, i};
      }
      return best;
    };
    const auto best_plain = fastest(0, plain);
    const auto best_relayed = fastest(plain, candidates.size());
    const auto [seconds, chosen] = best_relayed.first < (1 - kRelayGain) * best_plain.first ? best_relayed : best_plain;
    if (std::isfinite(seconds)) candidates[chosen].predicted_seconds = seconds;
    return std::move(candidates[chosen]);
  }
};

}  // namespace

std::unique_ptr<Planner> MakeTreePackingPlanner() { return std::make_unique<TreePackingPlanner>(); }

}  // namespace geostorm::core
