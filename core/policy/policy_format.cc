#include "core/policy/policy_format.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace geostorm::core {
namespace {

double Mbps(double bytes_per_s) { return bytes_per_s / kBytesPerMbit; }

std::string EdgeList(const Policy& p, const NetworkView& view, const ShardPlan& shard, Phase phase) {
  std::vector<std::string> parts;
  for (auto [from, to] : TreeEdges(shard, phase)) {
    parts.push_back(
        absl::StrFormat("%s->%s (%.0f)", p.data_centers[from], p.data_centers[to], Mbps(view.Rate(from, to))));
  }
  return absl::StrJoin(parts, ", ");
}

}  // namespace

std::string FormatPolicyText(const Policy& p, const NetworkView& view) {
  std::string out = absl::StrFormat("policy v%d  strategy %s  model %.1f MB  chunk %d KiB  %d chunks%s\n", p.version,
                                    p.strategy, p.model_bytes / 1e6, p.chunk_bytes / 1024, p.num_chunks(),
                                    p.phase_barrier ? "  (push, then pull)" : "");
  absl::StrAppendFormat(&out, "predicted %.3f s   T_min %.3f s   ratio %.2f\n", p.predicted_seconds, p.t_min_seconds,
                        p.t_min_seconds > 0 ? p.predicted_seconds / p.t_min_seconds : 0);
  absl::StrAppendFormat(&out, "%d shards (rates in Mbit/s)\n", p.shards.size());
  for (size_t s = 0; s < p.shards.size(); ++s) {
    const ShardPlan& shard = p.shards[s];
    absl::StrAppendFormat(&out, "  shard %d  root %s  chunks %d..%d  (%.1f%%)\n", s, p.data_centers[shard.root],
                          shard.first_chunk, shard.first_chunk + shard.num_chunks - 1,
                          100.0 * shard.num_chunks / p.num_chunks());
    absl::StrAppendFormat(&out, "    reduce:    %s\n", EdgeList(p, view, shard, Phase::kReduce));
    absl::StrAppendFormat(&out, "    broadcast: %s\n", EdgeList(p, view, shard, Phase::kBroadcast));
  }
  if (!p.aux_routes.empty()) absl::StrAppendFormat(&out, "%d aux routes\n", p.aux_routes.size());
  for (const AuxRoute& a : p.aux_routes) {
    std::vector<std::string> names;
    for (int v : a.path) names.push_back(p.data_centers[v]);
    absl::StrAppendFormat(&out, "  shard %d %s  %s  carries %.1f%% of %s->%s\n", a.shard,
                          a.phase == Phase::kReduce ? "reduce" : "broadcast", absl::StrJoin(names, "->"),
                          100 * a.fraction, p.data_centers[a.path.front()], p.data_centers[a.path.back()]);
  }
  return out;
}

std::string FormatPolicyDot(const Policy& p, const NetworkView& view) {
  std::string out =
      absl::StrFormat("digraph \"%s v%d\" {\n  rankdir=LR;\n  node [shape=box];\n", p.strategy, p.version);
  for (size_t s = 0; s < p.shards.size(); ++s) {
    const ShardPlan& shard = p.shards[s];
    absl::StrAppendFormat(&out, "  subgraph cluster_%d {\n    label=\"shard %d root %s (%d chunks)\";\n", s, s,
                          p.data_centers[shard.root], shard.num_chunks);
    for (size_t v = 0; v < p.data_centers.size(); ++v) {
      absl::StrAppendFormat(&out, "    s%d_%d [label=\"%s\"%s];\n", s, v, p.data_centers[v],
                            static_cast<int>(v) == shard.root ? " style=bold" : "");
    }
    for (Phase phase : {Phase::kReduce, Phase::kBroadcast}) {
      for (auto [from, to] : TreeEdges(shard, phase)) {
        absl::StrAppendFormat(&out, "    s%d_%d -> s%d_%d [label=\"%.0f\"%s];\n", s, from, s, to,
                              Mbps(view.Rate(from, to)), phase == Phase::kReduce ? "" : " style=dashed");
      }
    }
    for (const AuxRoute& a : p.aux_routes) {
      if (a.shard != static_cast<int>(s)) continue;
      for (size_t h = 0; h + 1 < a.path.size(); ++h) {
        absl::StrAppendFormat(&out, "    s%d_%d -> s%d_%d [style=dotted label=\"aux %.0f%%\"];\n", s, a.path[h], s,
                              a.path[h + 1], 100 * a.fraction);
      }
    }
    out += "  }\n";
  }
  out += "}\n";
  return out;
}

}  // namespace geostorm::core
