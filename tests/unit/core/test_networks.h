// Small hand-built networks for the core tests.
#ifndef GEOSTORM_TESTS_UNIT_CORE_TEST_NETWORKS_H_
#define GEOSTORM_TESTS_UNIT_CORE_TEST_NETWORKS_H_

#include <string>

#include "core/network_view.h"
#include "core/planner/planner.h"
#include "core/topology/topology.h"

namespace geostorm::core::fixtures {

inline std::string DataFile(const std::string& name) { return std::string(GEOSTORM_DATA_DIR) + "/" + name; }

inline Topology MustParse(const std::string& yaml) {
  absl::StatusOr<Topology> t = ParseTopology(yaml, "inline");
  if (!t.ok()) throw std::runtime_error(std::string(t.status().message()));
  return *t;
}

inline Topology MustLoad(const std::string& name) {
  absl::StatusOr<Topology> t = LoadTopologyFile(DataFile(name));
  if (!t.ok()) throw std::runtime_error(std::string(t.status().message()));
  return *t;
}

inline NetworkView MustView(const Topology& t, Overlay overlay, int64_t model, int64_t chunk) {
  absl::StatusOr<NetworkView> v = BuildView(t, overlay, model, chunk);
  if (!v.ok()) throw std::runtime_error(std::string(v.status().message()));
  return *v;
}

// A policy with one shard over all chunks of `view`.
inline Policy OneShard(const NetworkView& view, int root, std::vector<int> reduce, std::vector<int> broadcast,
                       bool barrier = false) {
  Policy p = EmptyPolicy(view, "test", {});
  p.phase_barrier = barrier;
  p.shards.push_back({root, 0, view.num_chunks(), std::move(reduce), std::move(broadcast)});
  return p;
}

}  // namespace geostorm::core::fixtures

#endif  // GEOSTORM_TESTS_UNIT_CORE_TEST_NETWORKS_H_
