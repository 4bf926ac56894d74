// A topology file. One that parses names each DC once, and its links join DCs it
// names, at rates that are finite and not negative.
#include <cmath>
#include <cstdint>
#include <set>
#include <string>

#include "core/topology/topology.h"
#include "tests/fuzz/require.h"

using geostorm::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<geostorm::core::Topology> t = geostorm::core::ParseTopology(text, "fuzz.yaml");
  if (!t.ok()) {
    Require(t.status().message().find("fuzz.yaml") != std::string::npos, "a refusal names the file");
    return 0;
  }
  const int n = static_cast<int>(t->data_centers.size());
  Require(std::set<std::string>(t->data_centers.begin(), t->data_centers.end()).size() == t->data_centers.size(),
          "each DC is named once");
  for (int period = 0; period < (t->dynamic ? 3 : 1); ++period) {
    for (const geostorm::core::DirectedLink& l : t->LinksAt(period)) {
      Require(l.from >= 0 && l.from < n && l.to >= 0 && l.to < n && l.from != l.to, "links join two named DCs");
      Require(std::isfinite(l.mbps) && l.mbps >= 0, "link rates are finite and not negative");
    }
  }
  return 0;
}
