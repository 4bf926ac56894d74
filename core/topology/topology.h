// Topology files: the DCs and the WAN between them, as the user describes it.
//
// Two kinds (see README.md, "Topology format"):
//   kind: mesh      every ordered pair is a direct link with its own rate
//                   (`defaultMbps`, overridden per pair under `mbps: {from: {to: r}}`).
//   kind: physical  sparse links that carry traffic in both directions
//                   (`links: [{a, b, mbps | mbpsAB + mbpsBA}]`). Traffic between DCs
//                   that share no link is routed through intermediate DCs.
// Either kind may carry `dynamic: {periodSeconds, mbpsMin, mbpsMax, seed,
// perDirection}`: every period each link direction is redrawn from a seeded
// generator, so a run is reproducible.
//
// Parsing never throws: errors come back as absl::Status naming the file, the line
// and the field. A Topology is immutable and safe to share between threads.
#ifndef GEOSTORM_CORE_TOPOLOGY_TOPOLOGY_H_
#define GEOSTORM_CORE_TOPOLOGY_TOPOLOGY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace geostorm::core {

enum class TopologyKind { kMesh, kPhysical };

// One direction of a WAN link, as configured.
struct DirectedLink {
  int from = 0;
  int to = 0;
  double mbps = 0;
};

struct DynamicSpec {
  double period_seconds = 0;
  int64_t mbps_min = 0;
  int64_t mbps_max = 0;
  uint64_t seed = 0;
  bool per_direction = true;
  double scale = 1;  // every draw is multiplied by this (see ScaleRates)
};

struct Topology {
  std::string name;
  TopologyKind kind = TopologyKind::kMesh;
  std::vector<std::string> data_centers;
  // Mesh: every ordered pair. Physical: both directions of every link, in file order
  // (a then b, then b then a).
  std::vector<DirectedLink> links;
  std::optional<DynamicSpec> dynamic;

  // Index of a DC by name, or -1.
  int IndexOf(const std::string& dc) const;

  // The link rates during period `period` of a dynamic topology (period 0 is the
  // first). The same seed and period always give the same rates. A static topology
  // returns its own links for every period.
  std::vector<DirectedLink> LinksAt(int64_t period) const;
};

// A DC's name: 1 to 63 letters, digits, '.', '_' or '-'. Names reach network
// namespaces, Prometheus labels, file names and JSON, so nothing else is let in.
bool IsDcName(const std::string& name);
inline constexpr char kDcNameRule[] = "1 to 63 letters, digits, '.', '_' or '-'";

// Limits of a topology: a larger document is refused before it is parsed, and more
// DCs are refused (the planners and the simulator hold DC-by-DC tables).
inline constexpr size_t kMaxTopologyBytes = 16 << 20;
inline constexpr size_t kMaxDataCenters = 1024;

// Parses a topology document. `source` names it in error messages (a file name).
// Example:
//   absl::StatusOr<Topology> t = ParseTopology(text, "klonet-9dc.yaml");
//   if (!t.ok()) std::cerr << t.status() << "\n";
[[nodiscard]] absl::StatusOr<Topology> ParseTopology(const std::string& text, const std::string& source);

// A full mesh of n DCs ("dc1".."dcN") with every direction drawn uniformly from
// [min_mbps, max_mbps] by a seeded generator: large planning and simulation cases.
Topology RandomMesh(int n, uint64_t seed, int64_t min_mbps, int64_t max_mbps);

// A sparse physical WAN of n DCs: a ring, so that every DC reaches every other,
// plus random chords up to `degree` links per DC on average; each direction of
// each link drawn as in RandomMesh.
Topology RandomPhysical(int n, int degree, uint64_t seed, int64_t min_mbps, int64_t max_mbps);

// The same WAN with every rate, drawn ones included, multiplied by `factor`: an
// emulated testbed runs at 1/10 to 1/5 of a topology's rates, with the model scaled
// alike, so that the kernel's shaping does not make the CPU the bottleneck.
Topology ScaleRates(Topology topology, double factor);

// Reads and parses a topology file.
[[nodiscard]] absl::StatusOr<Topology> LoadTopologyFile(const std::string& path);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_TOPOLOGY_TOPOLOGY_H_
