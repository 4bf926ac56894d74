#include "core/planner/chunk_assignment.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "core/planner/glpk.h"
#include "core/planner/trees.h"

namespace geostorm::core {

double OneChunkLatency(const NetworkView& view, const std::vector<int>& parent, Phase phase) {
  const double chunk = static_cast<double>(view.chunk_bytes());
  double worst = 0;
  for (size_t v = 0; v < parent.size(); ++v) {
    double total = 0;
    for (int u = static_cast<int>(v); parent[u] >= 0; u = parent[u]) {
      total += chunk / (phase == Phase::kReduce ? view.Rate(u, parent[u]) : view.Rate(parent[u], u));
    }
    worst = std::max(worst, total);
  }
  return worst;
}

namespace {

struct NodeBudget {
  int left;
};

void StopAtBudget(glp_tree* tree, void* info) {
  if (glp_ios_reason(tree) != GLP_ISELECT) return;
  if (--static_cast<NodeBudget*>(info)->left <= 0) glp_ios_terminate(tree);
}

}  // namespace

bool AssignChunks(const NetworkView& view, std::vector<PackedTree>& trees, double latency_weight, int node_budget) {
  const int n = view.size();
  const int nres = static_cast<int>(view.resources().size());
  const int m = static_cast<int>(trees.size());
  const double chunks = static_cast<double>(view.num_chunks());
  const double chunk = static_cast<double>(view.chunk_bytes());
  LpProblem lp = NewLpProblem();
  glp_prob* p = lp.get();
  glp_set_obj_dir(p, GLP_MIN);

  // Columns: 1 = S, 2 = Lr, 3 = Lb, then n_j at 4 + 2j and u_j at 5 + 2j.
  glp_add_cols(p, 3 + 2 * m);
  for (int c = 1; c <= 3; ++c) {
    glp_set_col_bnds(p, c, GLP_LO, 0, 0);
    glp_set_obj_coef(p, c, c == 1 ? 1 : latency_weight);
  }
  for (int j = 0; j < m; ++j) {
    glp_set_col_kind(p, 4 + 2 * j, GLP_IV);
    glp_set_col_bnds(p, 4 + 2 * j, GLP_DB, 0, chunks);
    glp_set_col_kind(p, 5 + 2 * j, GLP_BV);
  }
  // Rows: 1 = reduce chunks sum to the model; 2..n+1 = per-root balance; then one
  // per resource; then per tree n_j <= K u_j and latency >= L_j u_j.
  const int first_res = 2 + n, first_tree = first_res + nres;
  glp_add_rows(p, 1 + n + nres + 2 * m);
  glp_set_row_bnds(p, 1, GLP_FX, chunks, chunks);
  for (int r = 0; r < n; ++r) glp_set_row_bnds(p, 2 + r, GLP_FX, 0, 0);
  for (int e = 0; e < nres; ++e) glp_set_row_bnds(p, first_res + e, GLP_UP, 0, 0);
  std::vector<int> ia = {0}, ja = {0};
  std::vector<double> ar = {0};
  auto put = [&](int row, int col, double v) {
    ia.push_back(row);
    ja.push_back(col);
    ar.push_back(v);
  };
  // Resource rows in units of seconds at the fastest resource.
  for (int e = 0; e < nres; ++e) put(first_res + e, 1, -view.resources()[e].bytes_per_s / chunk);
  for (int j = 0; j < m; ++j) {
    const PackedTree& t = trees[j];
    const int nj = 4 + 2 * j, uj = 5 + 2 * j;
    if (t.phase == Phase::kReduce) put(1, nj, 1);
    put(2 + t.root, nj, t.phase == Phase::kReduce ? 1 : -1);
    std::map<int, double> uses;
    for (auto [from, to] : TreeEdges(t.parent, t.phase)) {
      for (int e : view.link(from, to).resources) uses[e] += 1;
    }
    for (auto [e, k] : uses) put(first_res + e, nj, k);
    const int cap = first_tree + 2 * j, lat = cap + 1;
    glp_set_row_bnds(p, cap, GLP_UP, 0, 0);  // n_j - K u_j <= 0
    put(cap, nj, 1);
    put(cap, uj, -chunks);
    glp_set_row_bnds(p, lat, GLP_UP, 0, 0);  // L_j u_j - L <= 0
    put(lat, uj, OneChunkLatency(view, t.parent, t.phase));
    put(lat, t.phase == Phase::kReduce ? 2 : 3, -1);
  }
  glp_load_matrix(p, static_cast<int>(ia.size()) - 1, ia.data(), ja.data(), ar.data());

  glp_iocp params;
  glp_init_iocp(&params);
  params.msg_lev = GLP_MSG_OFF;
  params.presolve = GLP_ON;
  params.mip_gap = 0.005;
  NodeBudget budget{node_budget};
  params.cb_func = StopAtBudget;
  params.cb_info = &budget;
  const int ret = glp_intopt(p, &params);
  const int status = glp_mip_status(p);
  if ((ret != 0 && ret != GLP_ESTOP && ret != GLP_EMIPGAP) || (status != GLP_OPT && status != GLP_FEAS)) return false;
  for (int j = 0; j < m; ++j) trees[j].share = std::round(glp_mip_col_val(p, 4 + 2 * j));
  return true;
}

}  // namespace geostorm::core
