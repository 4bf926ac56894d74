// netstorm: our planner. Congestion-aware packing of reduce and broadcast trees,
// then multipath relays on what capacity is left.
//
// Why: with chunked pipelining a tree runs at the pace of its slowest edge, and
// several roots' trees share links. The real objective is the most congested
// resource:
//     minimise  T  such that for every resource e:
//         sum over trees t crossing e of (bytes on t)  <=  B(e) * T
// NetStorm-as-published scores each root's tree alone and ignores that two trees
// meet on the same link; that is the gap to T_min this planner closes.
//
// How it decides:
//   1. A linear program over a set of candidate trees (GLPK): a share x_t for each
//      reduce in-tree and y_b for each broadcast out-tree, the shares summing to
//      the model, each root broadcasting exactly what it reduced, and the load
//      above on every resource. Reduce and broadcast trees are chosen apart, so
//      asymmetric links are used in their fast direction.
//   2. Column generation: the LP's dual prices on the resources say what a byte
//      costs on each link; the cheapest tree for each root under those prices is a
//      minimum-cost arborescence (trees.h). Trees that would lower T are
//      added and the LP is solved again, until none would (the packing is then
//      optimal over all trees) or the iteration budget runs out.
//   3. The roots and their number fall out of the LP: a root whose trees carry no
//      share is not a root. Each root's reduce and broadcast shares are paired into
//      shards and rounded to whole chunks.
//   4. Multipath: aux relay routes move bytes off the busiest resource onto relay
//      paths with headroom (aux_routes.h). They are kept only if the simulator
//      predicts a shorter iteration with them.
#ifndef GEOSTORM_CORE_PLANNER_TREE_PACKING_H_
#define GEOSTORM_CORE_PLANNER_TREE_PACKING_H_

#include <vector>

#include "core/network_view.h"
#include "core/policy/policy.h"

namespace geostorm::core {

// One tree of the packing and the fraction of the model it carries.
struct PackedTree {
  int root = 0;
  Phase phase = Phase::kReduce;
  std::vector<int> parent;
  double share = 0;
};

struct Packing {
  std::vector<PackedTree> trees;
  double fluid_seconds = 0;  // the LP's T for the whole model
  int iterations = 0;
};

// Solves the tree-packing LP by column generation, from congestion-aware seed
// trees. `max_iterations` < 0 picks a budget by size (40 up to 12 DCs, 10 up to
// 32, then 0: on large meshes the seed trees are already close to the bound and
// each LP solve is costly), and beyond 64 DCs returns the seed trees with equal
// shares without the LP. A budget given runs the LP at any size. With no column
// generation, one seed tree per root and phase; otherwise two. Empty trees when
// no tree spans the DCs; the seed trees with equal shares should GLPK fail.
// `roots` > 0 takes only that many roots: the DCs that can move the most through
// their own links.
Packing PackTrees(const NetworkView& view, int max_iterations = -1, int roots = 0);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_PLANNER_TREE_PACKING_H_
