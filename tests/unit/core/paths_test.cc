// The one least-label path search: sums of costs, bottlenecks, near-ties, a target.
#include "core/paths.h"

#include <gtest/gtest.h>

#include <cmath>
#include <tuple>

namespace geostorm::core {
namespace {

// Edges as (from, to, cost), their ids their positions.
struct Graph {
  std::vector<std::tuple<int, int, double>> edges;
  auto ForEachEdge() const {
    return [this](int u, auto&& visit) {
      for (size_t e = 0; e < edges.size(); ++e) {
        if (std::get<0>(edges[e]) == u) visit(std::get<1>(edges[e]), static_cast<int>(e));
      }
    };
  }
  double cost(int e) const { return std::get<2>(edges[e]); }
};

TEST(LeastLabelPaths, SumsCostsAndLeavesTheUnreachableAtInfinity) {
  Graph g{{{0, 1, 5}, {0, 2, 1}, {2, 1, 1}, {1, 3, 1}}};
  const PathSearch s = LeastLabelPaths(5, 0, g.ForEachEdge(), [&](double d, int e) { return d + g.cost(e); });
  EXPECT_DOUBLE_EQ(s.label[1], 2);
  EXPECT_EQ(s.prev[1], 2);
  EXPECT_EQ(s.via[1], 2);
  EXPECT_DOUBLE_EQ(s.label[3], 3);
  EXPECT_EQ(s.prev[0], -1);
  EXPECT_EQ(s.prev[4], -1);
  EXPECT_TRUE(std::isinf(s.label[4]));
}

TEST(LeastLabelPaths, ABottleneckLabelPrefersTheLeastBusyPath) {
  // 0 -> 1 directly is busy (9); the detour's busiest edge is 3.
  Graph g{{{0, 1, 9}, {0, 2, 3}, {2, 1, 2}}};
  const PathSearch s = LeastLabelPaths(3, 0, g.ForEachEdge(), [&](double w, int e) { return std::max(w, g.cost(e)); });
  EXPECT_DOUBLE_EQ(s.label[1], 3);
  EXPECT_EQ(s.prev[1], 2);
}

TEST(LeastLabelPaths, NearTiesKeepThePathFoundFirstAndTheTargetIsNotExpanded) {
  // Two routes to 2 whose costs differ by far less than the tolerance.
  Graph g{{{0, 1, 1}, {0, 2, 2}, {1, 2, 1 - 1e-14}, {2, 3, 1}}};
  const auto add = [&](double d, int e) { return d + g.cost(e); };
  EXPECT_EQ(LeastLabelPaths(4, 0, g.ForEachEdge(), add, /*tolerance=*/1e-9).prev[2], 0);
  EXPECT_EQ(LeastLabelPaths(4, 0, g.ForEachEdge(), add, /*tolerance=*/0).prev[2], 1);
  EXPECT_EQ(LeastLabelPaths(4, 0, g.ForEachEdge(), add, 0, /*target=*/2).prev[3], -1);
}

}  // namespace
}  // namespace geostorm::core
