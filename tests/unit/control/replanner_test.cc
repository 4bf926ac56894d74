#include "control/replanner.h"

#include <gtest/gtest.h>

#include "core/network_view.h"
#include "core/planner/planner.h"
#include "tests/unit/core/test_networks.h"

namespace geostorm::control {
namespace {

constexpr int64_t kModel = 8 << 20;
constexpr int64_t kChunk = 1 << 16;

struct Fixture {
  core::Topology topology = core::fixtures::MustLoad("mesh-5dc-hetero.yaml");
  ReplanOptions options{"netstorm", 0.10, kModel, kChunk, 0.30, {}};
  core::Policy current = *core::PlanTopology(topology, "netstorm", kModel, kChunk);

  // What the sidecars measure (TCP payload rates) when every link runs at `scale`
  // times its configured line rate, except `overrides` (line rates too).
  std::vector<LinkSample> Measured(double scale, const std::map<std::pair<int, int>, double>& overrides = {}) const {
    std::vector<LinkSample> out;
    for (const core::DirectedLink& l : topology.links) {
      auto it = overrides.find({l.from, l.to});
      const double mbps = it != overrides.end() ? it->second : l.mbps * scale;
      out.push_back({topology.data_centers[l.from], topology.data_centers[l.to],
                     mbps * core::kTcpPayloadShare * core::kBytesPerMbit, 0});
    }
    return out;
  }

  // The busiest direct link of the current policy's reduce trees.
  std::pair<int, int> BusiestTreeLink() const {
    std::map<std::pair<int, int>, int64_t> load;
    for (const core::ShardPlan& s : current.shards) {
      for (auto [from, to] : core::TreeEdges(s, core::Phase::kReduce)) load[{from, to}] += s.num_chunks;
    }
    return std::max_element(load.begin(), load.end(), [](auto& a, auto& b) { return a.second < b.second; })->first;
  }
};

TEST(Replan, KeepsThePolicyWhenTheLinksAreAsPlanned) {
  Fixture f;
  LinkMatrix m(f.topology);
  m.Update(f.Measured(1.0), Clock::now());
  absl::StatusOr<Decision> d = Replan(m, f.topology.links, f.current, f.options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->publish) << d->reason;
  EXPECT_NE(d->reason.find("keeping policy"), std::string::npos);
}

TEST(Replan, KeepsThePolicyWhenAllLinksSlowDownAlike) {
  Fixture f;
  LinkMatrix m(f.topology);
  m.Update(f.Measured(0.5), Clock::now());  // the same plan is still best
  absl::StatusOr<Decision> d = Replan(m, f.topology.links, f.current, f.options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->publish) << d->reason;
  EXPECT_NEAR(d->current_seconds, 2 * f.current.predicted_seconds, 0.05 * f.current.predicted_seconds);
}

TEST(Replan, IgnoresJitterWithinTheRateTolerance) {
  Fixture f;
  std::vector<LinkSample> samples = f.Measured(1.0);
  for (size_t i = 0; i < samples.size(); ++i) samples[i].bytes_per_second *= i % 2 ? 0.75 : 1.25;
  LinkMatrix m(f.topology);
  m.Update(samples, Clock::now());
  absl::StatusOr<Decision> d = Replan(m, f.topology.links, f.current, f.options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_FALSE(d->publish) << d->reason;
  f.options.rate_tolerance = 0;  // taken at face value, the same jitter asks for a new plan
  d = Replan(m, f.topology.links, f.current, f.options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->publish) << d->reason;
}

TEST(Replan, PublishesWhenATreeLinkCollapses) {
  Fixture f;
  const auto [from, to] = f.BusiestTreeLink();
  const double mbps = f.topology.links[0].mbps;  // any rate; a tenth of it below
  LinkMatrix m(f.topology);
  m.Update(f.Measured(1.0, {{{from, to}, mbps / 10}}), Clock::now());
  absl::StatusOr<Decision> d = Replan(m, f.topology.links, f.current, f.options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->publish) << d->reason;
  EXPECT_LE(d->candidate_seconds, 0.9 * d->current_seconds);
}

TEST(Replan, PublishesWhenALinkOfThePolicyIsGone) {
  Fixture f;
  const auto [from, to] = f.BusiestTreeLink();
  LinkMatrix m(f.topology);
  m.Update(f.Measured(1.0, {{{from, to}, 0.0}}), Clock::now());
  absl::StatusOr<Decision> d = Replan(m, f.topology.links, f.current, f.options);
  ASSERT_TRUE(d.ok()) << d.status();
  EXPECT_TRUE(d->publish);
  EXPECT_NE(d->reason.find("cannot run on the measured links"), std::string::npos) << d->reason;
  for (const core::ShardPlan& s : d->candidate.shards) {
    for (core::Phase phase : {core::Phase::kReduce, core::Phase::kBroadcast}) {
      for (auto edge : core::TreeEdges(s, phase)) EXPECT_NE(edge, std::make_pair(from, to));
    }
  }
}

TEST(LinkMatrix, KeepsOldEstimatesWithTheirAgeAndListsStaleLinks) {
  Fixture f;
  LinkMatrix m(f.topology);
  const auto now = Clock::now();
  EXPECT_EQ(m.Stale(now, 30).size(), f.topology.links.size());  // nothing measured yet
  std::vector<LinkSample> samples = f.Measured(0.5);
  samples[0].age_seconds = 100;
  m.Update(samples, now);
  const auto stale = m.Stale(now, 30);
  ASSERT_EQ(stale.size(), 1u);
  EXPECT_EQ(stale[0].first, samples[0].src);
  EXPECT_NEAR(m.MaxAge(now), 100, 1e-3);
  // An older sample never replaces a newer one.
  samples[1].age_seconds = 500;
  samples[1].bytes_per_second = 1;
  m.Update({samples[1]}, now);
  EXPECT_NEAR(m.Links()[1].mbps, f.topology.links[1].mbps * 0.5, 1e-9);
}

TEST(LinkMatrix, PlansOnTheLineRateUnderAMeasuredPayloadRate) {
  Fixture f;
  LinkMatrix m(f.topology);
  const LinkSample sample{f.topology.data_centers[f.topology.links[0].from],
                          f.topology.data_centers[f.topology.links[0].to], 10 * core::kBytesPerMbit, 0};
  m.Update({sample}, Clock::now());
  EXPECT_NEAR(m.Links()[0].mbps, 10 / core::kTcpPayloadShare, 1e-9);
  EXPECT_EQ(m.Links()[1].mbps, f.topology.links[1].mbps);  // not measured: the configured line rate
  ASSERT_EQ(m.Measured(Clock::now()).size(), 1u);
  EXPECT_NEAR(m.Measured(Clock::now())[0].bytes_per_second, 10 * core::kBytesPerMbit, 1e-6);  // as measured
}

TEST(LinkMatrix, IgnoresSamplesForUnknownDcsAndRoutedPairs) {
  const core::Topology physical = core::fixtures::MustLoad("klonet-9dc.yaml");
  LinkMatrix m(physical);
  int unlinked_from = -1, unlinked_to = -1;
  for (int a = 0; a < 9 && unlinked_from < 0; ++a) {
    for (int b = 0; b < 9; ++b) {
      const bool linked = std::any_of(physical.links.begin(), physical.links.end(),
                                      [&](const core::DirectedLink& l) { return l.from == a && l.to == b; });
      if (a != b && !linked) {
        unlinked_from = a;
        unlinked_to = b;
        break;
      }
    }
  }
  ASSERT_GE(unlinked_from, 0);
  const int ignored = m.Update({{"nowhere", physical.data_centers[0], 1e6, 0},
                                {physical.data_centers[unlinked_from], physical.data_centers[unlinked_to], 1e6, 0}},
                               Clock::now());
  EXPECT_EQ(ignored, 2);
  EXPECT_EQ(m.Measured(Clock::now()).size(), 0u);
}

}  // namespace
}  // namespace geostorm::control
