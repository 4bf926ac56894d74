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

// The view's resources as a flow network, each with a reverse edge of no capacity.
Graph FlowNetwork(const NetworkView& view) {
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
  return g;
}

}  // namespace

double MinCutBytesPerSecond(const NetworkView& view) {
  // Every directed cut separates DC 0 from some v, one way or the other. Each
  // max-flow starts from the capacities again, so one network serves them all.
  Graph g = FlowNetwork(view);
  double best = std::numeric_limits<double>::infinity();
  for (int v = 1; v < view.size(); ++v) {
    best = std::min({best, boost::push_relabel_max_flow(g, 0, v), boost::push_relabel_max_flow(g, v, 0)});
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
