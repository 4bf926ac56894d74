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

// Leftist heaps of arcs by cost, all in one pool, with an amount still to be added
// to every cost in a subtree (contracting a cycle shifts all arcs into it at once).
class ArcHeaps {
 public:
  explicit ArcHeaps(const std::vector<Arc>& arcs) {
    nodes_.reserve(arcs.size());
    for (const Arc& a : arcs) nodes_.push_back({a.cost});
  }

  // Merges heaps `a` and `b` (arc indexes; -1 is empty) and returns the result.
  int Merge(int a, int b) {
    if (a < 0) return b;
    if (b < 0) return a;
    Settle(a);
    Settle(b);
    if (nodes_[b].cost < nodes_[a].cost) std::swap(a, b);
    Node& top = nodes_[a];
    top.right = Merge(top.right, b);
    if (Rank(top.left) < Rank(top.right)) std::swap(top.left, top.right);
    top.rank = Rank(top.right) + 1;
    return a;
  }
  double TopCost(int heap) {
    Settle(heap);
    return nodes_[heap].cost;
  }
  void AddToAll(int heap, double delta) { nodes_[heap].pending += delta; }
  // Removes the top arc; returns the rest of the heap.
  int Pop(int heap) {
    Settle(heap);
    return Merge(nodes_[heap].left, nodes_[heap].right);
  }

 private:
  struct Node {
    double cost = 0;
    double pending = 0;
    int left = -1, right = -1;
    int rank = 1;
  };
  int Rank(int h) const { return h < 0 ? 0 : nodes_[h].rank; }
  void Settle(int h) {
    Node& node = nodes_[h];
    if (node.pending == 0) return;
    node.cost += node.pending;
    if (node.left >= 0) nodes_[node.left].pending += node.pending;
    if (node.right >= 0) nodes_[node.right].pending += node.pending;
    node.pending = 0;
  }
  std::vector<Node> nodes_;
};

// Union-find that can be rolled back to an earlier time, to expand contracted
// cycles again in the reverse order of their contraction.
class RollbackUnionFind {
 public:
  explicit RollbackUnionFind(int n) : parent_(n, -1) {}
  int Find(int x) const {
    while (parent_[x] >= 0) x = parent_[x];
    return x;
  }
  bool Join(int a, int b) {
    a = Find(a);
    b = Find(b);
    if (a == b) return false;
    if (parent_[a] > parent_[b]) std::swap(a, b);  // a's set is the larger one
    history_.push_back({a, parent_[a]});
    history_.push_back({b, parent_[b]});
    parent_[a] += parent_[b];
    parent_[b] = a;
    return true;
  }
  size_t time() const { return history_.size(); }
  void Rollback(size_t time) {
    for (; history_.size() > time; history_.pop_back()) parent_[history_.back().first] = history_.back().second;
  }

 private:
  std::vector<int> parent_;  // negative: a set's root, minus its size
  std::vector<std::pair<int, int>> history_;
};

// Minimum-cost out-arborescence (Chu-Liu/Edmonds in Tarjan's form, O(E log E)):
// each node takes its cheapest incoming arc, walking back from it until the walk
// reaches the root's side or closes a cycle; a cycle is contracted into one node
// whose incoming arcs cost what they save over the cycle's own arc. Returns, for
// every node but `root`, the index of its chosen incoming arc; empty when some
// node has no way in.
std::vector<int> Arborescence(int n, int root, const std::vector<Arc>& arcs) {
  ArcHeaps heaps(arcs);
  std::vector<int> heap(n, -1);
  for (size_t i = 0; i < arcs.size(); ++i) {
    if (arcs[i].from != arcs[i].to && arcs[i].to != root)
      heap[arcs[i].to] = heaps.Merge(heap[arcs[i].to], static_cast<int>(i));
  }
  struct Cycle {
    int node;     // the contracted node
    size_t time;  // the union-find before the contraction
    std::vector<int> arcs;
  };
  std::vector<Cycle> cycles;
  RollbackUnionFind sets(n);
  std::vector<int> seen(n, -1), walk(n), taken(n), in(n, -1);
  seen[root] = root;
  for (int start = 0; start < n; ++start) {
    int u = start, steps = 0;
    while (seen[u] < 0) {
      if (heap[u] < 0) return {};
      const int arc = heap[u];
      heaps.AddToAll(heap[u], -heaps.TopCost(heap[u]));
      heap[u] = heaps.Pop(heap[u]);
      taken[steps] = arc;
      walk[steps++] = u;
      seen[u] = start;
      u = sets.Find(arcs[arc].from);
      if (seen[u] != start) continue;
      // The walk closed a cycle through u: contract it.
      const int end = steps;
      const size_t time = sets.time();
      int merged = -1, w = 0;
      do {
        w = walk[--steps];
        merged = heaps.Merge(merged, heap[w]);
      } while (sets.Join(u, w));
      u = sets.Find(u);
      heap[u] = merged;
      seen[u] = -1;
      cycles.push_back({u, time, std::vector<int>(taken.begin() + steps, taken.begin() + end)});
    }
    for (int i = 0; i < steps; ++i) in[sets.Find(arcs[taken[i]].to)] = taken[i];
  }
  // Expand the cycles, last contracted first: the arc into a contracted node
  // replaces the cycle arc into the node it enters.
  for (auto c = cycles.rbegin(); c != cycles.rend(); ++c) {
    sets.Rollback(c->time);
    const int entering = in[c->node];
    for (int arc : c->arcs) in[sets.Find(arcs[arc].to)] = arc;
    in[sets.Find(arcs[entering].to)] = entering;
  }
  return in;
}

}  // namespace

LinkCost InverseRate(const NetworkView& view) {
  return [&view](int link) { return 1.0 / view.links()[link].bytes_per_s; };
}

std::vector<int> MinCostTree(const NetworkView& view, int root, Phase phase, const LinkCost& cost) {
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
  const std::vector<int> chosen = Arborescence(view.size(), root, arcs);
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
