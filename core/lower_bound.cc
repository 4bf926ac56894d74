#include "core/lower_bound.h"

#include <algorithm>
#include <limits>

#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/push_relabel_max_flow.hpp>

namespace geostorm::core {
namespace {

using Traits = boost::adjacency_list_traits<boost::vecS, boost::vecS, boost::directedS>;
using Graph = boost::adjacency_list<
    boost::vecS, boost::vecS, boost::directedS, boost::no_property,
    boost::property<boost::edge_capacity_t, double,
                    boost::property<boost::edge_residual_capacity_t, double,
                                    boost::property<boost::edge_reverse_t, Traits::edge_descriptor>>>>;

// Max-flow from s to t over the view's resources.
double MaxFlow(const NetworkView& view, int s, int t) {
  Graph g(view.size());
  auto capacity = boost::get(boost::edge_capacity, g);
  auto reverse = boost::get(boost::edge_reverse, g);
  for (const Resource& r : view.resources()) {
    auto e = boost::add_edge(r.from, r.to, g).first;
    auto back = boost::add_edge(r.to, r.from, g).first;
    capacity[e] = r.bytes_per_s;
    capacity[back] = 0;
    reverse[e] = back;
    reverse[back] = e;
  }
  return boost::push_relabel_max_flow(g, s, t);
}

}  // namespace

double MinCutBytesPerSecond(const NetworkView& view) {
  // Every directed cut separates DC 0 from some v, one way or the other.
  double best = std::numeric_limits<double>::infinity();
  for (int v = 1; v < view.size(); ++v) {
    best = std::min({best, MaxFlow(view, 0, v), MaxFlow(view, v, 0)});
  }
  return best;
}

double TMinSeconds(const NetworkView& view) {
  return static_cast<double>(view.model_bytes()) / MinCutBytesPerSecond(view);
}

double AggregationBoundSeconds(const NetworkView& view) {
  double total = 0;
  for (const Resource& r : view.resources()) total += r.bytes_per_s;
  return 2.0 * (view.size() - 1) * static_cast<double>(view.model_bytes()) / total;
}

}  // namespace geostorm::core
