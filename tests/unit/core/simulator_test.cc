// The simulator against cases worked out by hand.
#include "core/sim/simulator.h"

#include <gtest/gtest.h>

#include "tests/unit/core/test_networks.h"

namespace geostorm::core {
namespace {

using fixtures::MustParse;
using fixtures::MustView;
using fixtures::OneShard;

constexpr int64_t kChunk = 1'000'000;
constexpr int64_t kChunks = 10;
constexpr double kRate = 100 * kBytesPerMbit;  // 12.5 MB/s on the line
// A chunk on the wire: its payload and TCP's framing.
constexpr double kWireChunk = kChunk / kTcpPayloadShare;
constexpr double kChunkTime = kWireChunk / kRate;  // 0.0836 s

TEST(Simulator, OneLinkPipelinesReduceIntoBroadcast) {
  // b -> a carries the reduce, a -> b the broadcast; chunk k is reduced at
  // (k+1) C/B and back at b at (k+2) C/B.
  const NetworkView view = MustView(MustParse("kind: mesh\ndataCenters: [a, b]\ndefaultMbps: 100\n"),
                                    Overlay::kAllPairs, kChunk * kChunks, kChunk);
  absl::StatusOr<SimResult> r = Simulate(view, OneShard(view, 0, {-1, 0}, {-1, 0}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->iteration_seconds, (kChunks + 1) * kChunkTime, 1e-9);
  EXPECT_EQ(r->transfers, 2 * kChunks);
  for (double u : r->resource_utilisation) EXPECT_NEAR(u, kChunks / (kChunks + 1.0), 1e-9);
}

TEST(Simulator, TwoLevelTreeAddsOneChunkTimePerLevel) {
  // c -> b -> a, then a -> b -> c, all at B: the last chunk reaches c at (K+3) C/B.
  const NetworkView view = MustView(MustParse("kind: mesh\ndataCenters: [a, b, c]\ndefaultMbps: 100\n"),
                                    Overlay::kAllPairs, kChunk * kChunks, kChunk);
  absl::StatusOr<SimResult> r = Simulate(view, OneShard(view, 0, {-1, 0, 1}, {-1, 0, 1}));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->iteration_seconds, (kChunks + 3) * kChunkTime, 1e-9);
}

TEST(Simulator, SlowestTreeLinkSetsThePace) {
  // c -> b at 50 Mbit/s, b -> a at 100: reduce streams at C/(B/2) per chunk.
  const NetworkView view =
      MustView(MustParse("kind: mesh\ndataCenters: [a, b, c]\ndefaultMbps: 100\nmbps: {c: {b: 50}}\n"),
               Overlay::kAllPairs, kChunk * kChunks, kChunk);
  absl::StatusOr<SimResult> r = Simulate(view, OneShard(view, 0, {-1, 0, 1}, {-1, 0, 1}));
  ASSERT_TRUE(r.ok()) << r.status();
  // Chunk k leaves c at 2(k+1)C/B, reaches a at 2(k+1)C/B + C/B, then two hops down.
  EXPECT_NEAR(r->iteration_seconds, (2 * kChunks + 3) * kChunkTime, 1e-9);
}

TEST(Simulator, PushThenPullWaitsForTheWholeShard) {
  // Star at a with b and c on their own links: push K chunks in parallel, then pull.
  const NetworkView view = MustView(MustParse("kind: mesh\ndataCenters: [a, b, c]\ndefaultMbps: 100\n"),
                                    Overlay::kAllPairs, kChunk * kChunks, kChunk);
  absl::StatusOr<SimResult> r = Simulate(view, OneShard(view, 0, {-1, 0, 0}, {-1, 0, 0}, /*barrier=*/true));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->iteration_seconds, 2 * kChunks * kChunkTime, 1e-9);
}

TEST(Simulator, RoutedLinksShareThePhysicalLink) {
  // a - b - c in a line. A star at a: c's traffic is routed over b's link to a,
  // so push and pull each move 2K chunks over one 100 Mbit/s link.
  const NetworkView view = MustView(
      MustParse(
          "kind: physical\ndataCenters: [a, b, c]\nlinks:\n  - {a: a, b: b, mbps: 100}\n  - {a: b, b: c, mbps: 100}\n"),
      Overlay::kAllPairs, kChunk * kChunks, kChunk);
  absl::StatusOr<SimResult> r = Simulate(view, OneShard(view, 0, {-1, 0, 0}, {-1, 0, 0}, /*barrier=*/true));
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_NEAR(r->iteration_seconds, 4 * kChunks * kChunkTime, 1e-6);
  // b -> a carried both DCs' pushes.
  const int ba = view.link(1, 0).resources[0];
  EXPECT_NEAR(r->resource_bytes[ba], 2 * kChunks * kWireChunk, 1);
}

TEST(Simulator, AuxRouteTakesItsFractionOverTheRelay) {
  // b -> a is slow (20), b -> c -> a fast (100 each). Half of b's chunks relay.
  const NetworkView view =
      MustView(MustParse("kind: mesh\ndataCenters: [a, b, c]\ndefaultMbps: 100\nmbps: {b: {a: 20}}\n"),
               Overlay::kAllPairs, kChunk * kChunks, kChunk);
  Policy p = OneShard(view, 0, {-1, 0, 0}, {-1, 0, 0});
  absl::StatusOr<SimResult> plain = Simulate(view, p);
  p.aux_routes.push_back({0, Phase::kReduce, {1, 2, 0}, 0.5});
  absl::StatusOr<SimResult> relayed = Simulate(view, p);
  ASSERT_TRUE(plain.ok() && relayed.ok());
  const int ba = view.link(1, 0).resources[0];
  const int bc = view.link(1, 2).resources[0];
  EXPECT_NEAR(relayed->resource_bytes[ba], 5 * kWireChunk, 1);
  EXPECT_NEAR(relayed->resource_bytes[bc], 5 * kWireChunk, 1);
  EXPECT_LT(relayed->iteration_seconds, 0.6 * plain->iteration_seconds);
}

TEST(Simulator, RejectsAnInvalidPolicy) {
  const NetworkView view = MustView(MustParse("kind: mesh\ndataCenters: [a, b]\ndefaultMbps: 100\n"),
                                    Overlay::kAllPairs, kChunk * kChunks, kChunk);
  EXPECT_FALSE(Simulate(view, OneShard(view, 0, {-1, 1}, {-1, 0})).ok());
}

}  // namespace
}  // namespace geostorm::core
