// Tree building blocks against brute force.
#include "core/planner/trees.h"

#include <gtest/gtest.h>

#include <limits>
#include <random>

#include "core/planner/aux_routes.h"
#include "core/planner/link_load.h"
#include "tests/unit/core/test_networks.h"

namespace geostorm::core {
namespace {

using fixtures::MustParse;
using fixtures::MustView;

double Cost(const NetworkView& view, const std::vector<int>& parent, Phase phase) {
  double total = 0;
  for (size_t v = 0; v < parent.size(); ++v) {
    if (parent[v] >= 0) total += phase == Phase::kReduce ? 1 / view.Rate(v, parent[v]) : 1 / view.Rate(parent[v], v);
  }
  return total;
}

// The cheapest spanning tree towards/away from root by trying every parent array.
double BruteForce(const NetworkView& view, int root, Phase phase) {
  const int n = view.size();
  std::vector<int> parent(n, 0);
  double best = std::numeric_limits<double>::infinity();
  for (;;) {
    std::vector<int> p = parent;
    p[root] = -1;
    bool ok = true;
    for (int v = 0; v < n && ok; ++v) {
      if (v == root) continue;
      ok = p[v] != v && (phase == Phase::kReduce ? view.HasLink(v, p[v]) : view.HasLink(p[v], v));
      int u = v;
      for (int steps = 0; ok && u != root; ++steps) {
        ok = steps <= n;
        u = p[u];
      }
    }
    if (ok) best = std::min(best, Cost(view, p, phase));
    int i = 0;
    while (i < n && ++parent[i] == n) parent[i++] = 0;
    if (i == n) return best;
  }
}

TEST(Trees, MinCostTreeMatchesBruteForceOnRandomAsymmetricMeshes) {
  std::mt19937 rng(11);
  std::uniform_int_distribution<int> rate(1, 50);
  for (int trial = 0; trial < 30; ++trial) {
    std::string yaml = "kind: mesh\ndataCenters: [a, b, c, d, e]\ndefaultMbps: 0\nmbps:\n";
    const std::string names = "abcde";
    for (char u : names) {
      yaml += std::string("  ") + u + ": {";
      for (char v : names) {
        if (u == v) continue;
        // Some links are missing (0) so that the graph is sparse and directed.
        const int r = rate(rng);
        yaml += std::string(1, v) + ": " + std::to_string(r <= 15 ? 0 : r * 10) + ", ";
      }
      yaml += "}\n";
    }
    absl::StatusOr<Topology> t = ParseTopology(yaml, "random");
    if (!t.ok()) continue;  // disconnected draw
    const NetworkView view = MustView(*t, Overlay::kAllPairs, 1000, 10);
    for (Phase phase : {Phase::kReduce, Phase::kBroadcast}) {
      for (int root = 0; root < 5; ++root) {
        const double best = BruteForce(view, root, phase);
        for (ArborescenceMethod method : {ArborescenceMethod::kContraction, ArborescenceMethod::kHeaps}) {
          const std::vector<int> tree = MinCostTree(view, root, phase, InverseRate(view), method);
          ASSERT_FALSE(tree.empty());
          EXPECT_NEAR(Cost(view, tree, phase), best, 1e-12) << yaml;
        }
      }
    }
  }
}

// Every DC but the root has a parent over an existing link, and following
// parents always ends at the root.
bool IsSpanningTree(const NetworkView& view, const std::vector<int>& parent, int root, Phase phase) {
  const int n = view.size();
  if (static_cast<int>(parent.size()) != n || parent[root] != -1) return false;
  for (int v = 0; v < n; ++v) {
    if (v == root) continue;
    const int p = parent[v];
    if (p < 0 || p >= n || p == v || !(phase == Phase::kReduce ? view.HasLink(v, p) : view.HasLink(p, v))) {
      return false;
    }
    int u = v;
    for (int steps = 0; u != root; ++steps) {
      if (steps > n) return false;
      u = parent[u];
    }
  }
  return true;
}

// Beyond brute force: the heap method finds trees exactly as cheap as contraction
// on larger random meshes, with distinct rates and with many equal ones (ties).
TEST(Trees, BothArborescenceMethodsFindEquallyCheapTreesOnLargerMeshes) {
  std::mt19937 rng(5);
  for (int n : {12, 40, 70}) {
    for (int distinct : {1000, 3}) {
      std::uniform_int_distribution<int> rate(1, distinct);
      std::string yaml = "kind: mesh\ndataCenters: [";
      for (int v = 0; v < n; ++v) yaml += (v ? ", d" : "d") + std::to_string(v);
      yaml += "]\ndefaultMbps: 0\nmbps:\n";
      for (int u = 0; u < n; ++u) {
        yaml += "  d" + std::to_string(u) + ": {";
        for (int v = 0; v < n; ++v) {
          if (u != v) yaml += "d" + std::to_string(v) + ": " + std::to_string(10 * rate(rng)) + ", ";
        }
        yaml += "}\n";
      }
      const NetworkView view = MustView(MustParse(yaml), Overlay::kAllPairs, 1000, 10);
      for (Phase phase : {Phase::kReduce, Phase::kBroadcast}) {
        for (int root : {0, n / 2, n - 1}) {
          const std::vector<int> contracted =
              MinCostTree(view, root, phase, InverseRate(view), ArborescenceMethod::kContraction);
          const std::vector<int> heaps = MinCostTree(view, root, phase, InverseRate(view), ArborescenceMethod::kHeaps);
          ASSERT_TRUE(IsSpanningTree(view, contracted, root, phase));
          ASSERT_TRUE(IsSpanningTree(view, heaps, root, phase)) << n << " DCs, root " << root;
          EXPECT_NEAR(Cost(view, heaps, phase), Cost(view, contracted, phase), 1e-9 * Cost(view, contracted, phase))
              << n << " DCs, root " << root << ", " << distinct << " distinct rates";
        }
      }
    }
  }
}

TEST(Trees, ShortestPathTreeFollowsFastestPaths) {
  // c reaches a faster through b (1/100 + 1/100) than directly (1/20).
  const NetworkView view =
      MustView(MustParse("kind: mesh\ndataCenters: [a, b, c]\ndefaultMbps: 100\nmbps: {c: {a: 20}}\n"),
               Overlay::kAllPairs, 1000, 10);
  EXPECT_EQ(ShortestPathTree(view, 0, Phase::kReduce, InverseRate(view)), (std::vector<int>{-1, 0, 1}));
  EXPECT_EQ(ShortestPathTree(view, 0, Phase::kBroadcast, InverseRate(view)), (std::vector<int>{-1, 0, 0}));
}

TEST(Trees, SplitChunksIsExactAndProportional) {
  EXPECT_EQ(SplitChunks({1, 1, 1}, 10), (std::vector<int64_t>{4, 3, 3}));
  EXPECT_EQ(SplitChunks({0.7, 0.2, 0.1}, 10), (std::vector<int64_t>{7, 2, 1}));
  EXPECT_EQ(SplitChunks({3, 1}, 2), (std::vector<int64_t>{2, 0}));
}

TEST(AuxRoutes, MoveBytesOffTheBusiestLinkOntoAnIdleRelay) {
  // Star at a; b -> a is slow but b -> c -> a is fast and idle in the reduce.
  const NetworkView view =
      MustView(MustParse("kind: mesh\ndataCenters: [a, b, c]\ndefaultMbps: 100\nmbps: {b: {a: 20}}\n"),
               Overlay::kAllPairs, 10'000'000, 100'000);
  Policy p = fixtures::OneShard(view, 0, {-1, 0, 0}, {-1, 0, 0});
  const double before = FluidSeconds(view, p);
  AddAuxRoutes(view, p);
  ASSERT_EQ(p.aux_routes.size(), 1u);
  EXPECT_EQ(p.aux_routes[0].path, (std::vector<int>{1, 2, 0}));
  EXPECT_TRUE(ValidatePolicy(p, view).ok()) << ValidatePolicy(p, view);
  // b -> a (20) and c -> a (100, also carrying c's own shard) finish together:
  // (1 - f) M / 20 = (1 + f) M / 100  =>  f = 2/3, busiest time M/60 instead of M/20.
  EXPECT_NEAR(p.aux_routes[0].fraction, 2.0 / 3, 1e-6);
  EXPECT_NEAR(FluidSeconds(view, p), before / 3, 1e-6);
}

}  // namespace
}  // namespace geostorm::core
