#include "core/network_view.h"

#include <algorithm>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "core/paths.h"

namespace geostorm::core {

NetworkView::NetworkView(std::vector<std::string> dcs, std::vector<Resource> resources, int64_t model_bytes,
                         int64_t chunk_bytes)
    : dcs_(std::move(dcs)),
      resources_(std::move(resources)),
      index_(dcs_.size() * dcs_.size(), -1),
      out_(dcs_.size()),
      in_(dcs_.size()),
      model_bytes_(model_bytes),
      chunk_bytes_(std::max<int64_t>(1, chunk_bytes)) {}

void NetworkView::AddLink(int from, int to, std::vector<int> route) {
  OverlayLink link{from, to, std::numeric_limits<double>::infinity(), std::move(route)};
  for (int r : link.resources) link.bytes_per_s = std::min(link.bytes_per_s, resources_[r].bytes_per_s);
  int& slot = index_[from * size() + to];
  if (slot >= 0) {
    links_[slot] = std::move(link);
    return;
  }
  slot = static_cast<int>(links_.size());
  links_.push_back(std::move(link));
  out_[from].push_back(slot);
  in_[to].push_back(slot);
}

int NetworkView::LinkIndex(int from, int to) const {
  if (from < 0 || to < 0 || from >= size() || to >= size()) return -1;
  return index_[from * size() + to];
}

double NetworkView::Rate(int from, int to) const {
  const int i = LinkIndex(from, to);
  return i < 0 ? 0 : links_[i].bytes_per_s;
}

NetworkView NetworkView::NeighboursOnly() const {
  NetworkView v(dcs_, resources_, model_bytes_, chunk_bytes_);
  for (const OverlayLink& l : links_) {
    if (l.resources.size() == 1) v.AddLink(l.from, l.to, l.resources);
  }
  return v;
}

NetworkView NetworkView::WithRates(const std::vector<double>& bytes_per_s) const {
  std::vector<Resource> resources = resources_;
  for (size_t i = 0; i < resources.size() && i < bytes_per_s.size(); ++i) resources[i].bytes_per_s = bytes_per_s[i];
  NetworkView v(dcs_, std::move(resources), model_bytes_, chunk_bytes_);
  for (const OverlayLink& l : links_) v.AddLink(l.from, l.to, l.resources);
  return v;
}

int64_t AutoChunkBytes(int64_t model_bytes) {
  const int64_t target = model_bytes / 512;
  int64_t chunk = 16 << 10;
  while (chunk < (4 << 20) && chunk * 2 <= target) chunk *= 2;
  return chunk;
}

namespace {

// Fastest routes (least sum of seconds per byte) from `src` over the resources,
// ties broken towards fewer hops and lower DC index so that routes are stable.
std::vector<int> RouteTree(int n, const std::vector<Resource>& resources, int src) {
  std::vector<std::vector<int>> out(n);
  for (size_t r = 0; r < resources.size(); ++r) out[resources[r].from].push_back(static_cast<int>(r));
  return LeastLabelPaths(
             n, src,
             [&](int u, auto&& visit) {
               for (int r : out[u]) visit(resources[r].to, r);
             },
             // A tiny per-hop cost prefers fewer hops among equally fast routes.
             [&](double d, int r) { return d + 1.0 / resources[r].bytes_per_s + 1e-15; }, /*tolerance=*/1e-12)
      .via;
}

}  // namespace

absl::StatusOr<NetworkView> BuildView(const Topology& topology, Overlay overlay, int64_t model_bytes,
                                      int64_t chunk_bytes) {
  return BuildView(topology, topology.links, overlay, model_bytes, chunk_bytes);
}

absl::StatusOr<NetworkView> BuildView(const Topology& topology, const std::vector<DirectedLink>& links, Overlay overlay,
                                      int64_t model_bytes, int64_t chunk_bytes) {
  if (model_bytes <= 0) return absl::InvalidArgumentError("model size must be positive");
  if (chunk_bytes <= 0) return absl::InvalidArgumentError("chunk size must be positive");
  const int n = static_cast<int>(topology.data_centers.size());
  std::vector<Resource> resources;
  for (const DirectedLink& l : links) {
    if (l.mbps > 0) resources.push_back({l.from, l.to, l.mbps * kBytesPerMbit});
  }
  NetworkView view(topology.data_centers, resources, model_bytes, chunk_bytes);
  for (size_t r = 0; r < resources.size(); ++r) {
    view.AddLink(resources[r].from, resources[r].to, {static_cast<int>(r)});
  }
  if (topology.kind == TopologyKind::kMesh || overlay == Overlay::kNeighbours) return view;

  for (int src = 0; src < n; ++src) {
    const std::vector<int> via = RouteTree(n, resources, src);
    for (int dst = 0; dst < n; ++dst) {
      if (dst == src || view.HasLink(src, dst)) continue;
      if (via[dst] < 0) {
        return absl::InvalidArgumentError(absl::StrCat(topology.name, ": no route from '", topology.data_centers[src],
                                                       "' to '", topology.data_centers[dst], "'"));
      }
      std::vector<int> route;
      for (int v = dst; v != src; v = resources[via[v]].from) route.push_back(via[v]);
      std::reverse(route.begin(), route.end());
      view.AddLink(src, dst, std::move(route));
    }
  }
  return view;
}

}  // namespace geostorm::core
