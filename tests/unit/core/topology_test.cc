#include "core/topology/topology.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "core/network_view.h"

namespace geostorm::core {
namespace {

std::string Data(const std::string& name) { return std::string(GEOSTORM_DATA_DIR) + "/" + name; }

::testing::AssertionResult FailsWith(const std::string& yaml, const std::string& needle) {
  absl::StatusOr<Topology> t = ParseTopology(yaml, "test.yaml");
  if (t.ok()) return ::testing::AssertionFailure() << "parsed, expected an error with '" << needle << "'";
  if (std::string(t.status().message()).find(needle) == std::string::npos) {
    return ::testing::AssertionFailure() << "error '" << t.status().message() << "' lacks '" << needle << "'";
  }
  return ::testing::AssertionSuccess();
}

TEST(Topology, LoadsEveryShippedFile) {
  for (const char* name :
       {"klonet-9dc.yaml", "klonet-9dc-dynamic.yaml", "mesh-4dc-uniform.yaml", "mesh-5dc-hetero.yaml"}) {
    absl::StatusOr<Topology> t = LoadTopologyFile(Data(name));
    EXPECT_TRUE(t.ok()) << name << ": " << t.status();
  }
}

TEST(Topology, PhysicalLinksCarryBothDirections) {
  absl::StatusOr<Topology> t = LoadTopologyFile(Data("klonet-9dc.yaml"));
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(t->kind, TopologyKind::kPhysical);
  ASSERT_EQ(t->links.size(), 26u);
  EXPECT_EQ(t->links[0].from, t->IndexOf("dc1"));
  EXPECT_EQ(t->links[0].to, t->IndexOf("dc2"));
  EXPECT_EQ(t->links[1].from, t->IndexOf("dc2"));
  EXPECT_EQ(t->links[1].to, t->IndexOf("dc1"));
  EXPECT_EQ(t->links[0].mbps, 500);
  EXPECT_EQ(t->links[3].mbps, 100);  // dc3 -> dc1
}

TEST(Topology, MeshRatesArePerDirectionWithDefault) {
  absl::StatusOr<Topology> t = LoadTopologyFile(Data("mesh-5dc-hetero.yaml"));
  ASSERT_TRUE(t.ok());
  ASSERT_EQ(t->links.size(), 20u);
  auto rate = [&](const std::string& a, const std::string& b) {
    for (const DirectedLink& l : t->links) {
      if (l.from == t->IndexOf(a) && l.to == t->IndexOf(b)) return l.mbps;
    }
    return -1.0;
  };
  EXPECT_EQ(rate("us-east", "ap-south"), 60);
  EXPECT_EQ(rate("ap-south", "us-east"), 40);
  absl::StatusOr<Topology> partial =
      ParseTopology("kind: mesh\ndataCenters: [a, b, c]\ndefaultMbps: 50\nmbps: {a: {b: 7}}\n", "x");
  ASSERT_TRUE(partial.ok()) << partial.status();
  for (const DirectedLink& l : partial->links) EXPECT_EQ(l.mbps, l.from == 0 && l.to == 1 ? 7 : 50);
}

TEST(Topology, DynamicRatesAreSeededPerPeriodAndInRange) {
  absl::StatusOr<Topology> t = LoadTopologyFile(Data("klonet-9dc-dynamic.yaml"));
  ASSERT_TRUE(t.ok());
  ASSERT_TRUE(t->dynamic.has_value());
  EXPECT_EQ(t->dynamic->period_seconds, 180);
  const std::vector<DirectedLink> p0 = t->LinksAt(0), p1 = t->LinksAt(1), again = t->LinksAt(1);
  int differ = 0, asymmetric = 0;
  for (size_t i = 0; i < p1.size(); ++i) {
    EXPECT_GE(p1[i].mbps, 20);
    EXPECT_LE(p1[i].mbps, 155);
    EXPECT_EQ(p1[i].mbps, again[i].mbps);
    EXPECT_EQ(p1[i].mbps, static_cast<int>(p1[i].mbps));
    differ += p0[i].mbps != p1[i].mbps;
    if (i % 2 == 1) asymmetric += p1[i].mbps != p1[i - 1].mbps;
  }
  EXPECT_GT(differ, 13);                    // a new draw, not a copy
  EXPECT_GT(asymmetric, 6);                 // perDirection: the two directions are drawn apart
  EXPECT_EQ(t->links[0].mbps, p0[0].mbps);  // the static view is period 0
}

TEST(Topology, ScaleRatesScalesStaticAndDrawnRates) {
  absl::StatusOr<Topology> t = LoadTopologyFile(Data("klonet-9dc-dynamic.yaml"));
  ASSERT_TRUE(t.ok());
  const Topology fifth = ScaleRates(*t, 0.2);
  for (int64_t period : {0, 3}) {
    const std::vector<DirectedLink> full = t->LinksAt(period), scaled = fifth.LinksAt(period);
    ASSERT_EQ(full.size(), scaled.size());
    for (size_t i = 0; i < full.size(); ++i) EXPECT_DOUBLE_EQ(scaled[i].mbps, full[i].mbps * 0.2);
  }
  for (size_t i = 0; i < t->links.size(); ++i) EXPECT_DOUBLE_EQ(fifth.links[i].mbps, t->links[i].mbps * 0.2);
}

TEST(Topology, ErrorsNameTheFieldAndLine) {
  EXPECT_TRUE(FailsWith("kind: physical\ndataCenters: [a, b]\nlinks:\n  - {a: a, b: zz, mbps: 10}\n",
                        "test.yaml:4:15: field 'links[0].b': unknown DC 'zz'"));
  EXPECT_TRUE(FailsWith("kind: physical\ndataCenters: [a, b]\nlinks:\n  - {a: a, b: b, mbps: -5}\n",
                        "field 'links[0].mbps': rate must not be negative"));
  EXPECT_TRUE(FailsWith("kind: mesh\ndataCenters: [a, b]\ndefaultMbps: 10\nmbps: {a: {b: -1}}\n",
                        "field 'mbps.a.b': rate must not be negative"));
  EXPECT_TRUE(FailsWith("kind: physical\ndataCenters: [a, b, c]\nlinks:\n  - {a: a, b: b, mbps: 10}\n",
                        "disconnected: DC 'c' cannot be reached from 'a'"));
  // One direction missing is enough to disconnect: a mesh link is one-way.
  EXPECT_TRUE(FailsWith("kind: mesh\ndataCenters: [a, b]\ndefaultMbps: 10\nmbps: {a: {b: 0}}\n",
                        "topology is disconnected: DC 'b' cannot be reached from 'a'"));
  EXPECT_TRUE(FailsWith("kind: mesh\ndataCenters: [a, b\n", "test.yaml:3:1: bad YAML: end of sequence flow not found"));
  EXPECT_TRUE(FailsWith("kind: ring\ndataCenters: [a, b]\n", "field 'kind': unknown kind 'ring'"));
  EXPECT_TRUE(FailsWith("dataCenters: [a, b]\n", "field 'kind': missing"));
  EXPECT_TRUE(FailsWith("kind: mesh\ndataCenters: [a, a]\ndefaultMbps: 1\n", "duplicate DC 'a'"));
  EXPECT_TRUE(FailsWith("kind: mesh\ndataCenters: [a, \"b c\"]\ndefaultMbps: 1\n",
                        "field 'dataCenters[]': 'b c' is not a DC name: 1 to 63 letters"));
  EXPECT_TRUE(FailsWith("kind: mesh\ndataCenters: [a, \"\"]\ndefaultMbps: 1\n", "'' is not a DC name"));
  EXPECT_TRUE(
      FailsWith("kind: mesh\ndataCenters: [a, b]\ndefaultMbps: fast\n", "field 'defaultMbps': expected a rate"));
  EXPECT_TRUE(
      FailsWith("kind: mesh\ndataCenters: [a, b]\ndefaultMbps: 1\nlinkz: []\n", "field 'linkz': unknown field"));
  EXPECT_TRUE(FailsWith("kind: mesh\ndataCenters: [a, b]\n", "no rate and no defaultMbps"));
  EXPECT_TRUE(
      FailsWith("kind: physical\ndataCenters: [a, b]\nlinks:\n  - {a: a, b: b}\n", "field 'links[0].mbps': missing"));
}

TEST(Topology, LimitsOfSizeAndDcsAreErrors) {
  std::string dcs = "[dc0";
  for (size_t i = 1; i <= kMaxDataCenters; ++i) absl::StrAppend(&dcs, ", dc", i);
  EXPECT_TRUE(FailsWith(absl::StrCat("kind: mesh\ndefaultMbps: 1\ndataCenters: ", dcs, "]\n"),
                        absl::StrCat("field 'dataCenters': ", kMaxDataCenters + 1, " DCs; at most ", kMaxDataCenters)));
  const std::string huge = absl::StrCat("kind: mesh\n# ", std::string(kMaxTopologyBytes, 'x'), "\n");
  EXPECT_TRUE(FailsWith(huge, "test.yaml: a topology is at most 16 MiB"));
  const std::string file = ::testing::TempDir() + "huge-topology.yaml";
  std::ofstream(file) << huge;
  absl::StatusOr<Topology> t = LoadTopologyFile(file);
  std::remove(file.c_str());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().message(), file + ": a topology is at most 16 MiB; this one is larger");
}

TEST(Topology, BadYamlNamesTheLine) {
  absl::StatusOr<Topology> t = ParseTopology("kind: mesh\ndataCenters: [a, b]\n  defaultMbps: 3\n", "bad.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_NE(std::string(t.status().message()).find("bad.yaml:3:"), std::string::npos) << t.status();
}

TEST(Topology, MissingFileIsNotFound) {
  absl::StatusOr<Topology> t = LoadTopologyFile("/nonexistent/topology.yaml");
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(std::string(t.status().message()).find("/nonexistent/topology.yaml"), std::string::npos);
}

TEST(Topology, RandomPhysicalIsASparseConnectedWanWithBothDirectionsOfEachLink) {
  const Topology t = RandomPhysical(64, 4, 7, 20, 1000);
  EXPECT_EQ(t.kind, TopologyKind::kPhysical);
  ASSERT_EQ(t.links.size(), 2u * 64 * 4 / 2);  // 128 links, each both ways
  for (size_t i = 0; i < t.links.size(); i += 2) {
    EXPECT_EQ(t.links[i].from, t.links[i + 1].to);
    EXPECT_EQ(t.links[i].to, t.links[i + 1].from);
    EXPECT_GE(t.links[i].mbps, 20);
    EXPECT_LE(t.links[i].mbps, 1000);
  }
  // Every DC reaches every other: the all-pairs overlay has a route for each pair.
  absl::StatusOr<NetworkView> view = BuildView(t, Overlay::kAllPairs, 1000, 10);
  ASSERT_TRUE(view.ok()) << view.status();
  EXPECT_EQ(view->links().size(), 64u * 63);
  EXPECT_EQ(RandomPhysical(64, 4, 7, 20, 1000).links.size(), t.links.size());  // seeded
  EXPECT_EQ(RandomPhysical(64, 4, 7, 20, 1000).links[77].mbps, t.links[77].mbps);
}

TEST(NetworkView, NeighboursOnlyAndAllPairsRouting) {
  absl::StatusOr<Topology> t = LoadTopologyFile(Data("klonet-9dc.yaml"));
  ASSERT_TRUE(t.ok());
  absl::StatusOr<NetworkView> near = BuildView(*t, Overlay::kNeighbours, 1000, 10);
  absl::StatusOr<NetworkView> all = BuildView(*t, Overlay::kAllPairs, 1000, 10);
  ASSERT_TRUE(near.ok() && all.ok());
  EXPECT_EQ(near->links().size(), 26u);
  EXPECT_EQ(all->links().size(), 72u);
  EXPECT_FALSE(near->HasLink(0, 8));
  // dc1 -> dc9 goes over 500 Mbit/s links only: dc1-dc2-dc5-dc7-dc8-dc9.
  const OverlayLink& l = all->link(t->IndexOf("dc1"), t->IndexOf("dc9"));
  ASSERT_EQ(l.resources.size(), 5u);
  EXPECT_DOUBLE_EQ(l.bytes_per_s, 500 * kBytesPerMbit);
  int at = t->IndexOf("dc1");
  for (int r : l.resources) {
    EXPECT_EQ(all->resources()[r].from, at);
    at = all->resources()[r].to;
  }
  EXPECT_EQ(at, t->IndexOf("dc9"));
  // A neighbour pair keeps its direct link even when a detour is faster.
  EXPECT_EQ(all->link(t->IndexOf("dc1"), t->IndexOf("dc3")).resources.size(), 1u);
}

TEST(NetworkView, AutoChunkSizeIsThePowerOfTwoBelowModelOver512) {
  EXPECT_EQ(AutoChunkBytes(100'000'000), 128 << 10);
  EXPECT_EQ(AutoChunkBytes(1'000'000'000), 1 << 20);
  EXPECT_EQ(AutoChunkBytes(1'000'000), 16 << 10);
  EXPECT_EQ(AutoChunkBytes(int64_t{1} << 40), 4 << 20);
}

}  // namespace
}  // namespace geostorm::core
