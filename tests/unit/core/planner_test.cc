// The strategies, T_min and the headline claims on the shipped topologies.
#include "core/planner/planner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <map>
#include <set>

#include "core/lower_bound.h"
#include "core/planner/tree_packing.h"
#include "core/sim/simulator.h"
#include "tests/unit/core/test_networks.h"

namespace geostorm::core {
namespace {

using fixtures::MustLoad;
using fixtures::MustView;

constexpr int64_t kModel = 100'000'000;

std::map<std::string, Policy> PlanAll(const Topology& t, int64_t model, int64_t chunk) {
  std::map<std::string, Policy> out;
  for (const std::string& s : StrategyNames()) {
    absl::StatusOr<Policy> p = PlanTopology(t, s, model, chunk);
    EXPECT_TRUE(p.ok()) << s << ": " << p.status();
    if (p.ok()) out[s] = *p;
  }
  return out;
}

TEST(LowerBound, UniformMeshIsModelOverThreeLinks) {
  const NetworkView view = MustView(MustLoad("mesh-4dc-uniform.yaml"), Overlay::kAllPairs, kModel, 1 << 20);
  EXPECT_DOUBLE_EQ(MinCutBytesPerSecond(view), 3 * 100 * kBytesPerMbit);
  EXPECT_DOUBLE_EQ(TMinSeconds(view), kModel / (3 * 100 * kBytesPerMbit));
  EXPECT_DOUBLE_EQ(AggregationBoundSeconds(view), 2.0 * 3 * kModel / (12 * 100 * kBytesPerMbit));
}

TEST(LowerBound, KlonetMinimumCutIs600Mbps) {
  // dc1 (500 + 100), dc9 (100 + 500) and the cut between {dc1..dc3} and the rest.
  const NetworkView view = MustView(MustLoad("klonet-9dc.yaml"), Overlay::kNeighbours, kModel, 1 << 20);
  EXPECT_DOUBLE_EQ(MinCutBytesPerSecond(view), 600 * kBytesPerMbit);
}

TEST(Planners, NoneBeatsTMinOnTheUniformMesh) {
  const Topology t = MustLoad("mesh-4dc-uniform.yaml");
  const double t_min = kModel / (3 * 100 * kBytesPerMbit);
  for (const auto& [name, p] : PlanAll(t, kModel, AutoChunkBytes(kModel))) {
    EXPECT_DOUBLE_EQ(p.t_min_seconds, t_min) << name;
    EXPECT_GE(p.predicted_seconds, t_min) << name;
  }
}

TEST(Planners, EveryStrategyGivesAValidPolicyOnEveryTopology) {
  for (const char* file :
       {"klonet-9dc.yaml", "klonet-9dc-dynamic.yaml", "mesh-4dc-uniform.yaml", "mesh-5dc-hetero.yaml"}) {
    const Topology t = MustLoad(file);
    for (const auto& [name, p] : PlanAll(t, 20'000'000, 256 << 10)) {
      const NetworkView view = MustView(t, MakePlanner(name)->overlay(), 20'000'000, 256 << 10);
      EXPECT_TRUE(ValidatePolicy(p, view).ok()) << file << " " << name;
      EXPECT_EQ(p.strategy, name);
      absl::StatusOr<SimResult> sim = Simulate(view, p);
      ASSERT_TRUE(sim.ok());
      EXPECT_DOUBLE_EQ(sim->iteration_seconds, p.predicted_seconds) << file << " " << name;
    }
  }
}

TEST(Planners, ShapesFollowTheirDefinitions) {
  const Topology t = MustLoad("mesh-5dc-hetero.yaml");
  auto all = PlanAll(t, 20'000'000, 256 << 10);
  EXPECT_EQ(all["star"].shards.size(), 1u);
  EXPECT_TRUE(all["star"].phase_barrier);
  EXPECT_TRUE(all["sharded-ps"].phase_barrier);
  EXPECT_EQ(all["sharded-ps"].shards.size(), 5u);
  EXPECT_EQ(all["ring"].shards.size(), 5u);
  EXPECT_EQ(all["mlnet"].shards.size(), 5u);
  EXPECT_EQ(all["tsengine"].shards.size(), 1u);
  EXPECT_EQ(all["netstorm-paper"].shards.size(), 3u);
  // Ring: every shard's reduce is a chain through all DCs.
  for (const ShardPlan& s : all["ring"].shards) {
    int leaves = 0;
    for (const auto& children : ChildrenOf(s.reduce_parent)) leaves += children.empty();
    EXPECT_EQ(leaves, 1);
  }
}

TEST(Planners, StarServerCanBeChosen) {
  const Topology t = MustLoad("klonet-9dc.yaml");
  PlanOptions o;
  o.star_root = 5;
  absl::StatusOr<Policy> p = PlanTopology(t, "star", kModel, 1 << 20, o);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->shards[0].root, 5);
  o.star_root = 9;
  EXPECT_FALSE(PlanTopology(t, "star", kModel, 1 << 20, o).ok());
}

TEST(Planners, UnknownStrategyIsAnError) {
  absl::StatusOr<Policy> p = PlanTopology(MustLoad("klonet-9dc.yaml"), "mesh-magic", kModel, 1 << 20);
  ASSERT_FALSE(p.ok());
  EXPECT_NE(std::string(p.status().message()).find("unknown strategy 'mesh-magic'"), std::string::npos);
}

// The headline: on the NetStorm testbed topology, 100 MB model.
TEST(Planners, NetstormOnKlonetNearsTMinAndBeatsEveryBaseline) {
  const Topology t = MustLoad("klonet-9dc.yaml");
  const int64_t chunk = AutoChunkBytes(kModel);
  auto all = PlanAll(t, kModel, chunk);
  const Policy& ours = all["netstorm"];
  EXPECT_LE(ours.predicted_seconds, 1.3 * ours.t_min_seconds);

  double best_star = std::numeric_limits<double>::infinity();
  for (int root = 0; root < 9; ++root) {
    PlanOptions o;
    o.star_root = root;
    absl::StatusOr<Policy> star = PlanTopology(t, "star", kModel, chunk, o);
    ASSERT_TRUE(star.ok());
    best_star = std::min(best_star, star->predicted_seconds);
  }
  EXPECT_DOUBLE_EQ(all["star"].predicted_seconds, best_star);  // the default server is the best one
  EXPECT_GE(best_star / ours.predicted_seconds, 5.0);
  for (const char* other : {"netstorm-paper", "mlnet", "tsengine", "ring", "sharded-ps"}) {
    EXPECT_LT(ours.predicted_seconds, all[other].predicted_seconds) << other;
  }
}

TEST(TreePacking, ColumnGenerationRunToTheEndOnlyTightensThePacking) {
  const NetworkView view = MustView(RandomMesh(20, 3, 20, 1000), Overlay::kNeighbours, kModel, 1 << 20);
  const Packing budgeted = PackTrees(view);  // 10 rounds at 20 DCs
  const Packing full = PackTrees(view, std::numeric_limits<int>::max());
  ASSERT_FALSE(budgeted.trees.empty());
  ASSERT_FALSE(full.trees.empty());
  EXPECT_EQ(budgeted.iterations, 10);
  EXPECT_GT(full.iterations, budgeted.iterations);
  EXPECT_LE(full.fluid_seconds, budgeted.fluid_seconds * (1 + 1e-9));
  EXPECT_GE(full.fluid_seconds, AggregationBoundSeconds(view) * (1 - 1e-9));
}

TEST(TreePacking, WithoutColumnGenerationEachRootKeepsOneTreePerPhase) {
  // Above 32 DCs there is no column generation; a packing of fewer trees plans
  // faster and gives each tree more chunks to fill its pipeline.
  const NetworkView view = MustView(RandomMesh(40, 3, 20, 1000), Overlay::kNeighbours, kModel, 1 << 20);
  const Packing packing = PackTrees(view);
  ASSERT_FALSE(packing.trees.empty());
  EXPECT_EQ(packing.iterations, 0);
  std::map<std::pair<int, Phase>, int> trees;
  for (const PackedTree& t : packing.trees) ++trees[{t.root, t.phase}];
  for (const auto& [key, count] : trees) EXPECT_EQ(count, 1) << "root " << key.first;
  EXPECT_GE(packing.fluid_seconds, AggregationBoundSeconds(view) * (1 - 1e-9));
}

TEST(TreePacking, AnLpOnWhichGlpkStallsIsSolvedFromAnAdvancedBasis) {
  // From the all-slack basis GLPK pivoted for minutes on this WAN's first LP.
  const NetworkView view = MustView(RandomPhysical(64, 4, 2, 20, 1000), Overlay::kNeighbours, kModel, 1 << 20);
  const Packing full = PackTrees(view, std::numeric_limits<int>::max());
  const Packing one_lp = PackTrees(view);  // one seed round, one LP solve
  ASSERT_FALSE(full.trees.empty());
  ASSERT_FALSE(one_lp.trees.empty());
  // Solved to the end, not the seed trees' equal shares: at least as tight as the
  // LP over any subset of trees.
  EXPECT_LE(full.fluid_seconds, one_lp.fluid_seconds * (1 + 1e-9));
  EXPECT_GE(full.fluid_seconds, AggregationBoundSeconds(view) * (1 - 1e-9));
}

TEST(TreePacking, ARootSubsetIsTheBestConnectedDcs) {
  // dc1 and dc3 get much faster links than the rest.
  Topology t = RandomMesh(12, 5, 20, 100);
  for (DirectedLink& l : t.links) {
    if (l.from == 1 || l.to == 1 || l.from == 3 || l.to == 3) l.mbps *= 20;
  }
  const NetworkView view = MustView(t, Overlay::kNeighbours, kModel, 1 << 20);
  const Packing packing = PackTrees(view, 0, 2);
  ASSERT_FALSE(packing.trees.empty());
  std::set<int> roots;
  for (const PackedTree& tree : packing.trees) roots.insert(tree.root);
  EXPECT_EQ(roots, (std::set<int>{1, 3}));
}

TEST(Planners, NetstormTakesFewerRootsOnLargeMeshes) {
  // Above 64 DCs shares are equal; with every DC a root, each of 80 would get
  // about 12 of the 954 chunks, and the simulator finds fewer roots faster.
  const Topology t = RandomMesh(80, 7, 20, 1000);
  const absl::StatusOr<Policy> plan = PlanTopology(t, "netstorm", 1'000'000'000, AutoChunkBytes(1'000'000'000));
  ASSERT_TRUE(plan.ok()) << plan.status();
  std::set<int> roots;
  for (const ShardPlan& shard : plan->shards) roots.insert(shard.root);
  EXPECT_LE(roots.size(), 40u);
  EXPECT_GE(roots.size(), 5u);
}

TEST(Planners, NetstormBeatsThePaperOnUnevenMeshes) {
  for (const char* file : {"mesh-5dc-hetero.yaml", "mesh-4dc-uniform.yaml"}) {
    auto all = PlanAll(MustLoad(file), kModel, AutoChunkBytes(kModel));
    EXPECT_LT(all["netstorm"].predicted_seconds, all["netstorm-paper"].predicted_seconds) << file;
  }
}

TEST(Planners, MultipathRelaysHelpTheirPlanClearlyOrAreLeftOut) {
  // Relays are kept only when the simulator says they shorten the iteration by 2%.
  // klonet-9dc at 1/10 of its rates with 10 MB (the emulated-WAN benchmark) has a
  // relayed plan 0.3% faster in the simulator, which ran 17% slower live.
  PlanOptions single;
  single.multipath = false;
  for (const auto& [t, model] : {std::pair{MustLoad("mesh-5dc-hetero.yaml"), kModel},
                                 std::pair{ScaleRates(MustLoad("klonet-9dc.yaml"), 0.1), kModel / 10}}) {
    absl::StatusOr<Policy> with = PlanTopology(t, "netstorm", model, AutoChunkBytes(model));
    absl::StatusOr<Policy> without = PlanTopology(t, "netstorm", model, AutoChunkBytes(model), single);
    ASSERT_TRUE(with.ok() && without.ok()) << t.name;
    EXPECT_TRUE(without->aux_routes.empty()) << t.name;
    if (with->aux_routes.empty()) {
      EXPECT_DOUBLE_EQ(with->predicted_seconds, without->predicted_seconds) << t.name;
    } else {
      EXPECT_LT(with->predicted_seconds, 0.98 * without->predicted_seconds) << t.name;
    }
    if (t.name == "klonet-9dc") {
      EXPECT_TRUE(with->aux_routes.empty());  // the case above
    }
  }
}

}  // namespace
}  // namespace geostorm::core
