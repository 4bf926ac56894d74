#include "core/planner/trees.h"

#include <algorithm>
#include <limits>
#include <numeric>

#include "core/paths.h"

namespace geostorm::core {
namespace {

struct Arc {
  int from = 0;
  int to = 0;
  double cost = 0;
};

// Chu-Liu/Edmonds: for every node but `root`, the index of its chosen incoming arc
// in a minimum-cost out-arborescence. Empty when some node has no way in.
std::vector<int> Arborescence(int n, int root, const std::vector<Arc>& arcs) {
  std::vector<int> best(n, -1);
  for (size_t i = 0; i < arcs.size(); ++i) {
    const Arc& a = arcs[i];
    if (a.from == a.to || a.to == root) continue;
    if (best[a.to] < 0 || a.cost < arcs[best[a.to]].cost) best[a.to] = static_cast<int>(i);
  }
  for (int v = 0; v < n; ++v) {
    if (v != root && best[v] < 0) return {};
  }
  // Find the cycles among the chosen arcs.
  std::vector<int> comp(n, -1), visit(n, -1);
  std::vector<bool> on_cycle(n, false);
  int components = 0;
  for (int v = 0; v < n; ++v) {
    int u = v;
    while (u != root && visit[u] == -1 && comp[u] == -1) {
      visit[u] = v;
      u = arcs[best[u]].from;
    }
    if (u != root && visit[u] == v && comp[u] == -1) {
      int w = u;
      do {
        comp[w] = components;
        on_cycle[w] = true;
        w = arcs[best[w]].from;
      } while (w != u);
      ++components;
    }
  }
  if (components == 0) return best;
  for (int v = 0; v < n; ++v) {
    if (comp[v] == -1) comp[v] = components++;
  }
  // Contract each cycle to one node; entering a cycle at v replaces v's cycle arc.
  std::vector<Arc> sub;
  std::vector<int> origin;
  sub.reserve(arcs.size());
  origin.reserve(arcs.size());
  for (size_t i = 0; i < arcs.size(); ++i) {
    const Arc& a = arcs[i];
    if (comp[a.from] == comp[a.to]) continue;
    const double cost = a.cost - (on_cycle[a.to] ? arcs[best[a.to]].cost : 0);
    sub.push_back({comp[a.from], comp[a.to], cost});
    origin.push_back(static_cast<int>(i));
  }
  const std::vector<int> sub_best = Arborescence(components, comp[root], sub);
  if (sub_best.empty()) return {};
  std::vector<int> result(n, -1);
  for (int v = 0; v < n; ++v) {
    if (on_cycle[v]) result[v] = best[v];
  }
  for (int c = 0; c < components; ++c) {
    if (c == comp[root]) continue;
    const int i = origin[sub_best[c]];
    result[arcs[i].to] = i;
  }
  return result;
}

// The same answer in O(E log V) (Tarjan's method): each node keeps its incoming
// arcs in a leftist heap keyed by reduced cost; a walk from each node follows the
// cheapest arc in until it closes a cycle, which is merged (union-find, with
// rollback) into one node whose heap is the union, every cost already reduced by
// the arc taken inside the cycle. The contractions are undone newest first to
// read off each node's arc. Ties may be broken differently from Arborescence().
class HeapArborescence {
 public:
  HeapArborescence(int n, const std::vector<Arc>& arcs) : arcs_(arcs), heap_(n, -1), uf_(n), size_(n, 1) {
    std::iota(uf_.begin(), uf_.end(), 0);
  }

  std::vector<int> Solve(int root) {
    const int n = static_cast<int>(heap_.size());
    for (size_t i = 0; i < arcs_.size(); ++i) {
      const Arc& a = arcs_[i];
      if (a.from == a.to || a.to == root) continue;
      nodes_.push_back({static_cast<int>(i), a.cost});
      heap_[a.to] = Merge(heap_[a.to], static_cast<int>(nodes_.size()) - 1);
    }
    std::vector<int> seen(n, -1), in(n, -1), walk_arc(n), walk_node(n);
    seen[root] = root;
    struct Cycle {
      int node;      // what it was contracted into
      size_t joins;  // union-find history before it
      std::vector<int> arcs;
    };
    std::vector<Cycle> cycles;
    for (int start = 0; start < n; ++start) {
      int u = start, depth = 0;
      while (seen[u] < 0) {
        if (heap_[u] < 0) return {};  // no way into u
        Push(heap_[u]);
        const Node top = nodes_[heap_[u]];
        nodes_[heap_[u]].lazy -= top.cost;  // the rest of u's arcs, relative to this one
        heap_[u] = Pop(heap_[u]);
        walk_arc[depth] = top.arc;
        walk_node[depth++] = u;
        seen[u] = start;
        u = Find(arcs_[top.arc].from);
        if (seen[u] == start) {  // a cycle: contract it into one node
          const int end = depth;
          const size_t joins = history_.size();
          int merged = -1, w = 0;
          do {
            w = walk_node[--depth];
            merged = Merge(merged, heap_[w]);
          } while (Join(u, w));
          u = Find(u);
          heap_[u] = merged;
          seen[u] = -1;
          cycles.push_back({u, joins, std::vector<int>(walk_arc.begin() + depth, walk_arc.begin() + end)});
        }
      }
      for (int i = 0; i < depth; ++i) in[Find(arcs_[walk_arc[i]].to)] = walk_arc[i];
    }
    for (auto c = cycles.rbegin(); c != cycles.rend(); ++c) {
      Rollback(c->joins);
      const int entering = in[c->node];
      for (int a : c->arcs) in[Find(arcs_[a].to)] = a;
      in[Find(arcs_[entering].to)] = entering;
    }
    in[root] = -1;
    return in;
  }

 private:
  struct Node {
    int arc;
    double cost;  // reduced, once lazy is pushed down
    double lazy = 0;
    int left = -1, right = -1, rank = 1;
  };

  void Push(int x) {
    Node& node = nodes_[x];
    node.cost += node.lazy;
    if (node.left >= 0) nodes_[node.left].lazy += node.lazy;
    if (node.right >= 0) nodes_[node.right].lazy += node.lazy;
    node.lazy = 0;
  }
  int Rank(int x) const { return x < 0 ? 0 : nodes_[x].rank; }
  // Leftist: the right spine is O(log n) long, and so is the recursion.
  int Merge(int a, int b) {
    if (a < 0) return b;
    if (b < 0) return a;
    Push(a);
    Push(b);
    if (nodes_[b].cost < nodes_[a].cost) std::swap(a, b);
    nodes_[a].right = Merge(nodes_[a].right, b);
    if (Rank(nodes_[a].left) < Rank(nodes_[a].right)) std::swap(nodes_[a].left, nodes_[a].right);
    nodes_[a].rank = Rank(nodes_[a].right) + 1;
    return a;
  }
  int Pop(int x) {
    Push(x);
    return Merge(nodes_[x].left, nodes_[x].right);
  }
  // Union by size, no path compression, so that joins can be undone.
  int Find(int v) const {
    while (uf_[v] != v) v = uf_[v];
    return v;
  }
  bool Join(int a, int b) {
    a = Find(a);
    b = Find(b);
    if (a == b) return false;
    if (size_[a] < size_[b]) std::swap(a, b);
    uf_[b] = a;
    size_[a] += size_[b];
    history_.push_back(b);
    return true;
  }
  void Rollback(size_t joins) {
    while (history_.size() > joins) {
      const int b = history_.back();
      history_.pop_back();
      size_[uf_[b]] -= size_[b];
      uf_[b] = b;
    }
  }

  const std::vector<Arc>& arcs_;
  std::vector<Node> nodes_;
  std::vector<int> heap_;  // per node (a component's representative): its incoming arcs
  std::vector<int> uf_, size_, history_;
};

}  // namespace

LinkCost InverseRate(const NetworkView& view) {
  return [&view](int link) { return 1.0 / view.links()[link].bytes_per_s; };
}

std::vector<int> MinCostTree(const NetworkView& view, int root, Phase phase, const LinkCost& cost,
                             ArborescenceMethod method) {
  // Solve as an out-arborescence from the root; for a reduce tree, over the
  // reversed links (an arc parent -> child stands for the link child -> parent).
  std::vector<Arc> arcs;
  arcs.reserve(view.links().size());
  for (size_t i = 0; i < view.links().size(); ++i) {
    const OverlayLink& l = view.links()[i];
    if (phase == Phase::kReduce) {
      arcs.push_back({l.to, l.from, cost(static_cast<int>(i))});
    } else {
      arcs.push_back({l.from, l.to, cost(static_cast<int>(i))});
    }
  }
  if (method == ArborescenceMethod::kAuto) {
    method = view.size() > kMaxDcsForContraction ? ArborescenceMethod::kHeaps : ArborescenceMethod::kContraction;
  }
  const std::vector<int> chosen = method == ArborescenceMethod::kHeaps ? HeapArborescence(view.size(), arcs).Solve(root)
                                                                       : Arborescence(view.size(), root, arcs);
  if (chosen.empty()) return {};
  std::vector<int> parent(view.size(), -1);
  for (int v = 0; v < view.size(); ++v) {
    if (v != root) parent[v] = arcs[chosen[v]].from;
  }
  return parent;
}

std::vector<int> ShortestPathTree(const NetworkView& view, int root, Phase phase, const LinkCost& cost) {
  const PathSearch s = LeastLabelPaths(
      view.size(), root,
      [&](int u, auto&& visit) {
        // Reduce: who can send to u? Broadcast: whom can u send to?
        for (int li : phase == Phase::kReduce ? view.in_links(u) : view.out_links(u)) {
          const OverlayLink& l = view.links()[li];
          visit(phase == Phase::kReduce ? l.from : l.to, li);
        }
      },
      [&](double d, int li) { return d + cost(li); });
  for (int v = 0; v < view.size(); ++v) {
    if (v != root && s.prev[v] < 0) return {};
  }
  return s.prev;
}

bool HasReverseLinks(const NetworkView& view, const std::vector<int>& parent, Phase phase) {
  for (size_t v = 0; v < parent.size(); ++v) {
    if (parent[v] < 0) continue;
    // The tree's edges run v->parent for reduce; reversed they run parent->v.
    const bool ok = phase == Phase::kReduce ? view.HasLink(parent[v], static_cast<int>(v))
                                            : view.HasLink(static_cast<int>(v), parent[v]);
    if (!ok) return false;
  }
  return true;
}

std::vector<int> Depths(const std::vector<int>& parent) {
  const int n = static_cast<int>(parent.size());
  std::vector<int> depth(n, -1);
  for (int v = 0; v < n; ++v) {
    int d = 0;
    for (int u = v; parent[u] >= 0 && d <= n; u = parent[u]) ++d;
    depth[v] = d;
  }
  return depth;
}

std::vector<int64_t> SplitChunks(const std::vector<double>& shares, int64_t total) {
  const double sum = std::accumulate(shares.begin(), shares.end(), 0.0);
  std::vector<int64_t> counts(shares.size(), 0);
  if (sum <= 0 || shares.empty()) return counts;
  std::vector<std::pair<double, size_t>> remainders;
  int64_t given = 0;
  for (size_t i = 0; i < shares.size(); ++i) {
    const double exact = shares[i] / sum * static_cast<double>(total);
    counts[i] = static_cast<int64_t>(exact);
    given += counts[i];
    remainders.push_back({exact - static_cast<double>(counts[i]), i});
  }
  std::sort(remainders.begin(), remainders.end(),
            [](const auto& a, const auto& b) { return a.first != b.first ? a.first > b.first : a.second < b.second; });
  for (size_t k = 0; given < total; ++k, ++given) ++counts[remainders[k % remainders.size()].second];
  return counts;
}

void AppendShards(Policy& policy, const std::vector<int64_t>& counts, const std::vector<int>& roots,
                  const std::vector<std::vector<int>>& reduce, const std::vector<std::vector<int>>& broadcast) {
  int64_t next = 0;
  for (const ShardPlan& s : policy.shards) next = std::max(next, s.first_chunk + s.num_chunks);
  for (size_t i = 0; i < counts.size(); ++i) {
    if (counts[i] <= 0) continue;
    policy.shards.push_back({roots[i], next, counts[i], reduce[i], broadcast[i]});
    next += counts[i];
  }
}

}  // namespace geostorm::core
