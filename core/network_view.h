// NetworkView: what the planners and the simulator see of the WAN.
//
// It has two layers:
//   - resources: the directed physical links that have a capacity (for a mesh,
//     every ordered pair is its own resource);
//   - overlay links u -> v that a sidecar can send on, each routed over one or more
//     resources. Its rate is the slowest resource on its route, as if alone.
// Traffic on overlay links that share a resource shares that resource's capacity;
// the simulator and the planners' load model both account for it.
//
// The view also carries the model size M and the chunk size C of the job.
// A NetworkView is a plain value, cheap to copy at the sizes we plan (<= 256 DCs).
#ifndef GEOSTORM_CORE_NETWORK_VIEW_H_
#define GEOSTORM_CORE_NETWORK_VIEW_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/topology/topology.h"

namespace geostorm::core {

struct Resource {
  int from = 0;
  int to = 0;
  double bytes_per_s = 0;
};

struct OverlayLink {
  int from = 0;
  int to = 0;
  double bytes_per_s = 0;      // the slowest resource on the route
  std::vector<int> resources;  // indexes into NetworkView::resources(), in order
};

// Which overlay links a physical topology offers.
enum class Overlay {
  kNeighbours,  // only DCs that share a physical link (NetStorm's view)
  kAllPairs,    // every pair, routed over the fastest path of physical links
};

class NetworkView {
 public:
  NetworkView() = default;
  NetworkView(std::vector<std::string> dcs, std::vector<Resource> resources, int64_t model_bytes, int64_t chunk_bytes);

  // Adds an overlay link routed over `route` (resource indexes). Replaces any
  // earlier link between the same pair.
  void AddLink(int from, int to, std::vector<int> route);

  int size() const { return static_cast<int>(dcs_.size()); }
  const std::vector<std::string>& dcs() const { return dcs_; }
  const std::vector<Resource>& resources() const { return resources_; }
  const std::vector<OverlayLink>& links() const { return links_; }
  int64_t model_bytes() const { return model_bytes_; }
  int64_t chunk_bytes() const { return chunk_bytes_; }
  int64_t num_chunks() const { return (model_bytes_ + chunk_bytes_ - 1) / chunk_bytes_; }

  bool HasLink(int from, int to) const { return LinkIndex(from, to) >= 0; }
  // Index into links(), or -1 when u -> v is not usable.
  int LinkIndex(int from, int to) const;
  const OverlayLink& link(int from, int to) const { return links_[LinkIndex(from, to)]; }
  // B(u, v) in bytes/s, or 0 when there is no link.
  double Rate(int from, int to) const;

  // Overlay links out of / into a DC, as indexes into links().
  const std::vector<int>& out_links(int dc) const { return out_[dc]; }
  const std::vector<int>& in_links(int dc) const { return in_[dc]; }

  // The same view restricted to overlay links that are a single resource.
  NetworkView NeighboursOnly() const;

  // The same links with new resource rates (the same order as resources()).
  NetworkView WithRates(const std::vector<double>& bytes_per_s) const;

 private:
  std::vector<std::string> dcs_;
  std::vector<Resource> resources_;
  std::vector<OverlayLink> links_;
  std::vector<int> index_;  // size()*size() -> link index or -1
  std::vector<std::vector<int>> out_, in_;
  int64_t model_bytes_ = 0;
  int64_t chunk_bytes_ = 1;
};

inline constexpr double kBytesPerMbit = 1e6 / 8;

// Topologies give a link's line rate, which counts every byte of every Ethernet
// frame. Over TCP (MSS 1448 with timestamps) 1448 of each 1514 bytes on the wire
// are payload; iperf3 gets 95.7% of a tc-limited link (bench/results/meter-step.json).
// The simulator sends a chunk's payload / kTcpPayloadShare bytes on the wire, and the
// controller turns the payload rates the sidecars measure into line rates.
inline constexpr double kTcpPayloadShare = 1448.0 / 1514.0;

// The default chunk size for a model: the largest power of two at most M/512,
// kept between 16 KiB and 4 MiB (so 512 to 1024 chunks). A chunk crosses each tree
// hop whole before it is forwarded, so the pipeline's fill and drain cost a few
// chunk times per tree level: on klonet-9dc with 100 MB, netstorm simulates at
// 1.32 T_min with 1 MiB chunks and 1.17 T_min with 128 KiB chunks.
int64_t AutoChunkBytes(int64_t model_bytes);

// Builds the view of a topology at its configured (period 0) rates.
//   NetworkView v = *BuildView(topology, Overlay::kAllPairs, 100'000'000, 1 << 20);
[[nodiscard]] absl::StatusOr<NetworkView> BuildView(const Topology& topology, Overlay overlay, int64_t model_bytes,
                                                    int64_t chunk_bytes);
// The same for given link rates, such as Topology::LinksAt(period).
[[nodiscard]] absl::StatusOr<NetworkView> BuildView(const Topology& topology, const std::vector<DirectedLink>& links,
                                                    Overlay overlay, int64_t model_bytes, int64_t chunk_bytes);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_NETWORK_VIEW_H_
