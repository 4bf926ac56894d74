#include "core/policy/policy.h"

#include <algorithm>
#include <cmath>
#include <map>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

namespace geostorm::core {

int64_t Policy::BytesOf(int64_t first_chunk, int64_t count) const {
  const int64_t begin = std::min(model_bytes, first_chunk * chunk_bytes);
  const int64_t end = std::min(model_bytes, (first_chunk + count) * chunk_bytes);
  return end - begin;
}

std::vector<std::vector<int>> ChildrenOf(const std::vector<int>& parent) {
  std::vector<std::vector<int>> children(parent.size());
  for (size_t v = 0; v < parent.size(); ++v) {
    if (parent[v] >= 0 && parent[v] < static_cast<int>(parent.size()))
      children[parent[v]].push_back(static_cast<int>(v));
  }
  return children;
}

std::vector<std::pair<int, int>> TreeEdges(const ShardPlan& shard, Phase phase) {
  return TreeEdges(phase == Phase::kReduce ? shard.reduce_parent : shard.broadcast_parent, phase);
}

std::vector<std::pair<int, int>> TreeEdges(const std::vector<int>& parent, Phase phase) {
  std::vector<std::pair<int, int>> edges;
  for (size_t v = 0; v < parent.size(); ++v) {
    if (parent[v] < 0) continue;
    if (phase == Phase::kReduce) {
      edges.push_back({static_cast<int>(v), parent[v]});
    } else {
      edges.push_back({parent[v], static_cast<int>(v)});
    }
  }
  return edges;
}

namespace {

const char* PhaseName(Phase phase) { return phase == Phase::kReduce ? "reduce" : "broadcast"; }

// `view` null: any link may exist (the policy's shape only).
bool HasLink(const NetworkView* view, int from, int to) { return view == nullptr || view->HasLink(from, to); }

absl::Status CheckTree(const Policy& p, const NetworkView* view, size_t s, Phase phase) {
  const ShardPlan& shard = p.shards[s];
  const std::vector<int>& parent = phase == Phase::kReduce ? shard.reduce_parent : shard.broadcast_parent;
  const std::string where =
      absl::StrCat("shard ", s, " (root ", p.data_centers[shard.root], ") ", PhaseName(phase), " tree");
  const int n = static_cast<int>(p.data_centers.size());
  if (static_cast<int>(parent.size()) != n) {
    return absl::InvalidArgumentError(absl::StrCat(where, ": has ", parent.size(), " entries for ", n, " DCs"));
  }
  for (int v = 0; v < n; ++v) {
    const int u = parent[v];
    if (v == shard.root) {
      if (u != -1)
        return absl::InvalidArgumentError(absl::StrCat(where, ": the root '", p.data_centers[v], "' has a parent"));
      continue;
    }
    if (u < 0 || u >= n || u == v) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": DC '", p.data_centers[v], "' has no valid parent"));
    }
    const int from = phase == Phase::kReduce ? v : u;
    const int to = phase == Phase::kReduce ? u : v;
    if (!HasLink(view, from, to)) {
      return absl::InvalidArgumentError(
          absl::StrCat(where, ": uses missing link ", p.data_centers[from], "->", p.data_centers[to]));
    }
  }
  // Every DC must reach the root by following parents, within n steps.
  for (int v = 0; v < n; ++v) {
    int u = v;
    for (int steps = 0; u != shard.root; ++steps) {
      if (steps > n) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": DC '", p.data_centers[v], "' is on a cycle, not connected to the root"));
      }
      u = parent[u];
    }
  }
  return absl::OkStatus();
}

absl::Status CheckAux(const Policy& p, const NetworkView* view) {
  std::map<std::tuple<int, int, int, int>, double> total;  // (shard, phase, from, to) -> fraction
  for (size_t i = 0; i < p.aux_routes.size(); ++i) {
    const AuxRoute& a = p.aux_routes[i];
    const std::string where = absl::StrCat("aux route ", i);
    if (a.shard < 0 || a.shard >= static_cast<int>(p.shards.size())) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": no shard ", a.shard));
    }
    if (a.path.size() < 3) return absl::InvalidArgumentError(absl::StrCat(where, ": a relay path needs 3 or more DCs"));
    if (!(a.fraction > 0 && a.fraction <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": fraction ", a.fraction, " is not in (0, 1]"));
    }
    const int n = static_cast<int>(p.data_centers.size());
    std::vector<bool> seen(n, false);
    for (size_t h = 0; h < a.path.size(); ++h) {
      const int v = a.path[h];
      if (v < 0 || v >= n) return absl::InvalidArgumentError(absl::StrCat(where, ": no DC ", v));
      if (seen[v]) return absl::InvalidArgumentError(absl::StrCat(where, ": visits '", p.data_centers[v], "' twice"));
      seen[v] = true;
      if (h > 0 && !HasLink(view, a.path[h - 1], v)) {
        return absl::InvalidArgumentError(
            absl::StrCat(where, ": uses missing link ", p.data_centers[a.path[h - 1]], "->", p.data_centers[v]));
      }
    }
    const auto edges = TreeEdges(p.shards[a.shard], a.phase);
    const std::pair<int, int> edge{a.path.front(), a.path.back()};
    if (std::find(edges.begin(), edges.end(), edge) == edges.end()) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": ", p.data_centers[edge.first], "->",
                                                     p.data_centers[edge.second], " is not a ", PhaseName(a.phase),
                                                     " edge of shard ", a.shard));
    }
    double& sum = total[{a.shard, static_cast<int>(a.phase), edge.first, edge.second}];
    sum += a.fraction;
    if (sum > 1 + 1e-9) {
      return absl::InvalidArgumentError(absl::StrCat(where, ": the aux fractions of ", p.data_centers[edge.first], "->",
                                                     p.data_centers[edge.second], " sum to ", sum, " > 1"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckShape(const Policy& p, const NetworkView* view) {
  if (p.data_centers.empty()) return absl::InvalidArgumentError("policy has no DCs");
  if (!p.strategy.empty() && !IsDcName(p.strategy)) {
    return absl::InvalidArgumentError(absl::StrCat("strategy '", absl::CHexEscape(p.strategy), "' is not a name"));
  }
  for (size_t i = 0; i < p.data_centers.size(); ++i) {
    if (!IsDcName(p.data_centers[i])) {
      return absl::InvalidArgumentError(
          absl::StrCat("DC '", absl::CHexEscape(p.data_centers[i]), "' is not a DC name: ", kDcNameRule));
    }
    if (std::find(p.data_centers.begin(), p.data_centers.begin() + i, p.data_centers[i]) !=
        p.data_centers.begin() + i) {
      return absl::InvalidArgumentError(absl::StrCat("DC '", p.data_centers[i], "' is listed twice"));
    }
  }
  if (p.chunk_bytes <= 0) return absl::InvalidArgumentError("chunk_bytes must be positive");
  if (p.model_bytes <= 0) return absl::InvalidArgumentError("model_bytes must be positive");
  if (p.chunk_bytes > kMaxChunkBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_bytes ", p.chunk_bytes, " is over the limit of ", kMaxChunkBytes));
  }
  if (p.num_chunks() > kMaxChunks) {
    return absl::InvalidArgumentError(absl::StrCat(p.num_chunks(), " chunks is over the limit of ", kMaxChunks));
  }
  if (p.shards.empty()) return absl::InvalidArgumentError("policy has no shards");
  for (double seconds : {p.predicted_seconds, p.t_min_seconds}) {
    if (!(seconds >= 0 && std::isfinite(seconds))) {
      return absl::InvalidArgumentError(absl::StrCat(
          "predicted and T_min seconds must be finite, not negative: ", p.predicted_seconds, ", ", p.t_min_seconds));
    }
  }
  int64_t next = 0;
  for (size_t s = 0; s < p.shards.size(); ++s) {
    const ShardPlan& shard = p.shards[s];
    if (shard.root < 0 || shard.root >= static_cast<int>(p.data_centers.size())) {
      return absl::InvalidArgumentError(absl::StrCat("shard ", s, ": root ", shard.root, " is not a DC"));
    }
    if (shard.num_chunks <= 0) return absl::InvalidArgumentError(absl::StrCat("shard ", s, ": has no chunks"));
    if (shard.first_chunk < next) {
      return absl::InvalidArgumentError(absl::StrCat("shard ", s, ": chunks from ", shard.first_chunk,
                                                     " overlap the previous shard, which ends at ", next));
    }
    if (shard.first_chunk > next) {
      return absl::InvalidArgumentError(
          absl::StrCat("shard ", s, ": chunks ", next, "..", shard.first_chunk - 1, " belong to no shard"));
    }
    next = shard.first_chunk + shard.num_chunks;
    for (Phase phase : {Phase::kReduce, Phase::kBroadcast}) {
      RETURN_IF_ERROR(CheckTree(p, view, s, phase));
    }
  }
  if (next != p.num_chunks()) {
    return absl::InvalidArgumentError(absl::StrCat("shards cover ", next, " chunks, the model has ", p.num_chunks()));
  }
  return CheckAux(p, view);
}

}  // namespace

absl::Status CheckPolicyShape(const Policy& p) { return CheckShape(p, nullptr); }

absl::Status ValidatePolicy(const Policy& p, const NetworkView& view) {
  if (p.data_centers != view.dcs()) return absl::InvalidArgumentError("policy DCs differ from the network's DCs");
  return CheckShape(p, &view);
}

}  // namespace geostorm::core
