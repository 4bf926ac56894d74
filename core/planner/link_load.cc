#include "core/planner/link_load.h"

#include <algorithm>
#include <map>

namespace geostorm::core {

ResourceLoads LoadsOf(const NetworkView& view, const Policy& policy) {
  ResourceLoads loads{std::vector<double>(view.resources().size(), 0), std::vector<double>(view.resources().size(), 0)};
  std::map<std::tuple<int, int, int, int>, double> diverted;  // (shard, phase, from, to) -> fraction
  for (const AuxRoute& a : policy.aux_routes) {
    diverted[{a.shard, static_cast<int>(a.phase), a.path.front(), a.path.back()}] += a.fraction;
  }
  auto add = [&](Phase phase, int from, int to, double bytes) {
    std::vector<double>& into = phase == Phase::kReduce ? loads.reduce : loads.broadcast;
    for (int r : view.link(from, to).resources) into[r] += bytes;
  };
  for (size_t s = 0; s < policy.shards.size(); ++s) {
    const ShardPlan& shard = policy.shards[s];
    const double bytes = static_cast<double>(policy.BytesOf(shard.first_chunk, shard.num_chunks));
    for (Phase phase : {Phase::kReduce, Phase::kBroadcast}) {
      for (auto [from, to] : TreeEdges(shard, phase)) {
        const auto it = diverted.find({static_cast<int>(s), static_cast<int>(phase), from, to});
        add(phase, from, to, bytes * (1 - (it == diverted.end() ? 0 : it->second)));
      }
    }
  }
  for (const AuxRoute& a : policy.aux_routes) {
    const ShardPlan& shard = policy.shards[a.shard];
    const double bytes = a.fraction * static_cast<double>(policy.BytesOf(shard.first_chunk, shard.num_chunks));
    for (size_t h = 0; h + 1 < a.path.size(); ++h) add(a.phase, a.path[h], a.path[h + 1], bytes);
  }
  return loads;
}

double FluidSeconds(const NetworkView& view, const Policy& policy) {
  const ResourceLoads loads = LoadsOf(view, policy);
  double reduce = 0, broadcast = 0, both = 0;
  for (size_t r = 0; r < view.resources().size(); ++r) {
    const double rate = view.resources()[r].bytes_per_s;
    reduce = std::max(reduce, loads.reduce[r] / rate);
    broadcast = std::max(broadcast, loads.broadcast[r] / rate);
    both = std::max(both, (loads.reduce[r] + loads.broadcast[r]) / rate);
  }
  return policy.phase_barrier ? reduce + broadcast : both;
}

}  // namespace geostorm::core
