// Least-label paths from one node: Dijkstra's label-setting search, written once
// for every part of core that needs it (the network view's routes, the planners'
// shortest-path trees, the aux routes' least-busy detours). Callers say what an
// edge is and how a path's label grows along it: a sum of costs, or the busiest
// link so far.
//
//   PathSearch s = LeastLabelPaths(n, src,
//       [&](int u, auto&& visit) { for (int e : out[u]) visit(to[e], e); },
//       [&](double label, int e) { return label + cost[e]; });
//   // s.prev[v] is v's predecessor on its least-label path from src
//
// Pure functions; thread-safe.
#ifndef GEOSTORM_CORE_PATHS_H_
#define GEOSTORM_CORE_PATHS_H_

#include <functional>
#include <limits>
#include <queue>
#include <utility>
#include <vector>

namespace geostorm::core {

struct PathSearch {
  std::vector<double> label;  // infinity where unreached
  std::vector<int> via;       // the edge that reaches each node; -1 at the source and where unreached
  std::vector<int> prev;      // the node before it on its path; -1 likewise
};

// `for_each_edge(u, visit)` calls `visit(v, edge)` for each usable edge u -> v.
// `extend(label, edge)` is the label of a path extended by `edge`; it must never be
// less than `label`. A node's label is replaced only by one below old x (1 -
// `tolerance`), so near-ties keep the path found first. With `target` >= 0 the
// search does not go on from it.
template <typename ForEachEdge, typename Extend>
PathSearch LeastLabelPaths(int n, int source, ForEachEdge&& for_each_edge, Extend&& extend, double tolerance = 0,
                           int target = -1) {
  PathSearch s{std::vector<double>(n, std::numeric_limits<double>::infinity()), std::vector<int>(n, -1),
               std::vector<int>(n, -1)};
  using Item = std::pair<double, int>;
  std::priority_queue<Item, std::vector<Item>, std::greater<>> queue;
  s.label[source] = 0;
  queue.push({0, source});
  while (!queue.empty()) {
    const double label = queue.top().first;  // not a structured binding: the lambda below captures them
    const int u = queue.top().second;
    queue.pop();
    if (label > s.label[u] || u == target) continue;
    for_each_edge(u, [&](int v, int edge) {
      const double next = extend(label, edge);
      if (next < s.label[v] * (1 - tolerance)) {
        s.label[v] = next;
        s.via[v] = edge;
        s.prev[v] = u;
        queue.push({next, v});
      }
    });
  }
  return s;
}

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_PATHS_H_
