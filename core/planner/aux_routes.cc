#include "core/planner/aux_routes.h"

#include <algorithm>
#include <limits>
#include <map>

#include "core/paths.h"
#include "core/planner/link_load.h"

namespace geostorm::core {
namespace {

// The path from `src` to `dst` whose busiest resource (after adding one unit of
// bytes per crossing, weighted by 1/rate) is least busy; never uses the overlay
// link src -> dst itself nor any link over `avoid`. Empty when there is none.
std::vector<int> LeastBusyPath(const NetworkView& view, const std::vector<double>& busy, int src, int dst, int avoid) {
  const PathSearch s = LeastLabelPaths(
      view.size(), src,
      [&](int u, auto&& visit) {
        for (int li : view.out_links(u)) {
          const OverlayLink& l = view.links()[li];
          const auto& route = l.resources;
          if (l.from == src && l.to == dst) continue;
          if (std::find(route.begin(), route.end(), avoid) == route.end()) visit(l.to, li);
        }
      },
      [&](double w, int li) {
        double link_worst = 0;
        for (int r : view.links()[li].resources) link_worst = std::max(link_worst, busy[r]);
        return std::max(w, link_worst) + 1e-12;  // fewer hops on ties
      },
      /*tolerance=*/0, /*target=*/dst);
  if (s.prev[dst] < 0) return {};
  std::vector<int> path;
  for (int v = dst; v != -1; v = s.prev[v]) path.push_back(v);
  std::reverse(path.begin(), path.end());
  return path;
}

}  // namespace

void AddAuxRoutes(const NetworkView& view, Policy& policy, const AuxOptions& options) {
  const int max_routes = options.max_routes > 0 ? options.max_routes : 4 * view.size();
  const size_t nres = view.resources().size();
  const ResourceLoads split = LoadsOf(view, policy);
  std::vector<double> load(nres);
  for (size_t r = 0; r < nres; ++r) load[r] = split.reduce[r] + split.broadcast[r];
  auto rate = [&](int r) { return view.resources()[r].bytes_per_s; };

  // Bytes each tree edge still sends directly: (shard, phase, from, to) -> bytes.
  using EdgeKey = std::tuple<int, int, int, int>;
  std::map<EdgeKey, double> direct;
  for (size_t s = 0; s < policy.shards.size(); ++s) {
    const ShardPlan& shard = policy.shards[s];
    const double bytes = static_cast<double>(policy.BytesOf(shard.first_chunk, shard.num_chunks));
    for (Phase phase : {Phase::kReduce, Phase::kBroadcast}) {
      for (auto [from, to] : TreeEdges(shard, phase))
        direct[{static_cast<int>(s), static_cast<int>(phase), from, to}] = bytes;
    }
  }
  for (const AuxRoute& a : policy.aux_routes) {
    const ShardPlan& shard = policy.shards[a.shard];
    direct[{a.shard, static_cast<int>(a.phase), a.path.front(), a.path.back()}] -=
        a.fraction * static_cast<double>(policy.BytesOf(shard.first_chunk, shard.num_chunks));
  }
  // The tree edges over each resource, in key order (on large WANs there are
  // hundreds of thousands of tree edges, and a bottleneck carries few of them).
  std::vector<std::vector<EdgeKey>> crossing(nres);
  for (const auto& [key, bytes] : direct) {
    for (int r : view.link(std::get<2>(key), std::get<3>(key)).resources) crossing[r].push_back(key);
  }
  const double chunk = static_cast<double>(policy.chunk_bytes);

  for (int added = 0; added < max_routes; ++added) {
    int bottleneck = 0;
    for (size_t r = 1; r < nres; ++r) {
      if (load[r] / rate(r) > load[bottleneck] / rate(bottleneck)) bottleneck = static_cast<int>(r);
    }
    const double t_star = load[bottleneck] / rate(bottleneck);
    // The tree edge over the bottleneck with the most bytes left on it.
    const EdgeKey* edge = nullptr;
    double edge_bytes = 0;
    for (const EdgeKey& key : crossing[bottleneck]) {
      const double bytes = direct.at(key);
      if (bytes > edge_bytes) {
        edge = &key;
        edge_bytes = bytes;
      }
    }
    if (edge == nullptr || edge_bytes < chunk) return;
    std::vector<double> busy(nres);
    for (size_t r = 0; r < nres; ++r) busy[r] = load[r] / rate(static_cast<int>(r));
    const int shard = std::get<0>(*edge), phase = std::get<1>(*edge), from = std::get<2>(*edge),
              to = std::get<3>(*edge);
    const std::vector<int> path = LeastBusyPath(view, busy, from, to, bottleneck);
    if (path.size() < 3) return;
    // Resource crossings of the path; move delta so that t_star - delta/B* equals
    // the path's busiest (load + uses * delta) / rate.
    std::map<int, int> uses;
    for (size_t h = 0; h + 1 < path.size(); ++h) {
      for (int r : view.link(path[h], path[h + 1]).resources) ++uses[r];
    }
    double delta = edge_bytes;
    for (const auto& [r, k] : uses) {
      delta = std::min(delta, (t_star - busy[r]) / (1.0 / rate(bottleneck) + k / rate(r)));
    }
    if (delta / rate(bottleneck) < options.min_gain * t_star || delta < chunk / 2) return;
    const ShardPlan& plan = policy.shards[shard];
    const double shard_bytes = static_cast<double>(policy.BytesOf(plan.first_chunk, plan.num_chunks));
    const double fraction = delta / shard_bytes;
    auto same = std::find_if(policy.aux_routes.begin(), policy.aux_routes.end(), [&](const AuxRoute& a) {
      return a.shard == shard && static_cast<int>(a.phase) == phase && a.path == path;
    });
    if (same != policy.aux_routes.end()) {
      same->fraction += fraction;
    } else {
      policy.aux_routes.push_back({shard, static_cast<Phase>(phase), path, fraction});
    }
    direct[*edge] -= delta;
    for (int r : view.link(from, to).resources) load[r] -= delta;
    for (const auto& [r, k] : uses) load[r] += k * delta;
  }
}

}  // namespace geostorm::core
