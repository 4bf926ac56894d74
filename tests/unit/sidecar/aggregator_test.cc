// The aggregate-forward engine, with every DC's engine in one process and the
// network replaced by a queue: sums must be exact for every strategy's trees.
#include "sidecar/engine/aggregator.h"

#include <gtest/gtest.h>

#include <deque>
#include <random>

#include "core/planner/planner.h"
#include "tests/unit/core/test_networks.h"

namespace geostorm::sidecar {
namespace {

using core::fixtures::MustLoad;

// Worker w of DC d at iteration t contributes small integers, so float sums are exact.
float Value(int dc, int worker, uint64_t t, int64_t i) {
  return static_cast<float>((dc * 7 + worker * 3 + static_cast<int>(t) + i) % 11 - 5);
}

struct Network {
  std::vector<std::unique_ptr<Aggregator>> dcs;
  std::deque<Outgoing> wire;
  std::vector<std::map<std::pair<uint64_t, int64_t>, Result>> results;  // per DC
  std::mt19937 rng{3};

  Network(const core::Policy& policy, int workers) {
    const int n = static_cast<int>(policy.data_centers.size());
    results.resize(n);
    for (int d = 0; d < n; ++d) {
      dcs.push_back(
          std::make_unique<Aggregator>(AggregatorConfig{"job", policy.data_centers[d], workers, workers * n}, policy));
      // Alternate between the direct edge and its aux paths.
      dcs.back()->set_path_chooser([k = size_t{0}](const auto& paths, int64_t) mutable { return k++ % paths.size(); });
    }
  }

  int Index(const std::string& dc) const {
    for (size_t d = 0; d < dcs.size(); ++d) {
      if (dcs[d]->PolicyFor(0).data_centers[d] == dc) return static_cast<int>(d);
    }
    return -1;
  }

  void Collect(int d) {
    for (Outgoing& o : dcs[d]->TakeOutgoing()) wire.push_back(std::move(o));
    for (Result& r : dcs[d]->TakeResults()) results[d][{r.iteration, r.chunk}] = r;
  }

  // Delivers queued chunks in a random order until none are left.
  void Drain() {
    while (!wire.empty()) {
      std::swap(wire[std::uniform_int_distribution<size_t>(0, wire.size() - 1)(rng)], wire.front());
      Outgoing o = std::move(wire.front());
      wire.pop_front();
      const int to = Index(o.peer);
      ASSERT_GE(to, 0) << o.peer;
      ASSERT_TRUE(dcs[to]->OnPeer(o.chunk).ok()) << dcs[to]->OnPeer(o.chunk);
      Collect(to);
    }
  }

  void RunIteration(uint64_t t, int workers) {
    const int64_t chunks = dcs[0]->num_chunks();
    for (int64_t k = 0; k < chunks; ++k) {
      for (size_t d = 0; d < dcs.size(); ++d) {
        for (int w = 0; w < workers; ++w) {
          auto data = std::make_shared<Floats>(dcs[d]->ChunkFloats(k));
          for (size_t i = 0; i < data->size(); ++i) (*data)[i] = Value(static_cast<int>(d), w, t, k * 1000 + i);
          ASSERT_TRUE(dcs[d]->OnLocal(t, k, "w" + std::to_string(w), data).ok());
          Collect(static_cast<int>(d));
        }
      }
    }
    Drain();
  }
};

void ExpectExactSums(const core::Policy& policy, int workers, int iterations) {
  Network net(policy, workers);
  const int n = static_cast<int>(policy.data_centers.size());
  for (uint64_t t = 0; t < static_cast<uint64_t>(iterations); ++t) {
    net.RunIteration(t, workers);
    for (int d = 0; d < n; ++d) {
      EXPECT_TRUE(net.dcs[d]->IterationDone(t)) << policy.strategy << " dc " << d << " iteration " << t;
      ASSERT_EQ(static_cast<int64_t>(net.results[d].size()), net.dcs[d]->num_chunks() * static_cast<int64_t>(t + 1));
      for (int64_t k = 0; k < net.dcs[d]->num_chunks(); ++k) {
        const Result& r = net.results[d].at({t, k});
        ASSERT_EQ(r.contributors, n * workers);
        for (size_t i = 0; i < r.data->size(); ++i) {
          float want = 0;
          for (int dc = 0; dc < n; ++dc) {
            for (int w = 0; w < workers; ++w) want += Value(dc, w, t, k * 1000 + i);
          }
          ASSERT_EQ((*r.data)[i], want) << policy.strategy << " dc " << d << " chunk " << k << " value " << i;
        }
      }
    }
  }
}

core::Policy Plan(const char* topology, const char* strategy) {
  absl::StatusOr<core::Policy> p = core::PlanTopology(MustLoad(topology), strategy, 40'000, 1'000);
  if (!p.ok()) throw std::runtime_error(std::string(p.status().message()));
  return *p;
}

TEST(Aggregator, ExactSumsForEveryStrategy) {
  for (const std::string& s : core::StrategyNames()) {
    ExpectExactSums(Plan("klonet-9dc.yaml", s.c_str()), 1, 2);
    ExpectExactSums(Plan("mesh-5dc-hetero.yaml", s.c_str()), 3, 2);
  }
}

TEST(Aggregator, ExactSumsOverAuxRelayRoutes) {
  const core::Policy p = Plan("mesh-5dc-hetero.yaml", "netstorm-paper");
  ASSERT_FALSE(p.aux_routes.empty());
  ExpectExactSums(p, 2, 3);
}

class AggregatorRejects : public ::testing::Test {
 protected:
  // Two DCs, star at a; b's reduce goes to a, a's broadcast back to b.
  core::Policy policy_ = [] {
    core::Policy p = core::PlanTopology(MustLoad("mesh-4dc-uniform.yaml"), "star", 4'000, 1'000).value();
    return p;
  }();
  Aggregator root_{{"job", policy_.data_centers[policy_.shards[0].root], 1, 4}, policy_};
  std::string Leaf() const { return policy_.data_centers[(policy_.shards[0].root + 1) % 4]; }
  Envelope Reduce(int64_t chunk, size_t floats = 250) const {
    return {ChunkKind::kReduce, 0, policy_.version, 0, chunk, 1, Leaf(), {}, std::make_shared<Floats>(floats, 1.0f)};
  }
};

TEST_F(AggregatorRejects, MalformedOutOfRangeDuplicateAndForeignChunks) {
  EXPECT_TRUE(root_.OnPeer(Reduce(0)).ok());
  EXPECT_EQ(root_.OnPeer(Reduce(0)).code(), absl::StatusCode::kAlreadyExists);  // duplicate
  EXPECT_EQ(root_.OnPeer(Reduce(4)).code(), absl::StatusCode::kOutOfRange);     // 4 chunks: 0..3
  EXPECT_EQ(root_.OnPeer(Reduce(-1)).code(), absl::StatusCode::kOutOfRange);
  EXPECT_EQ(root_.OnPeer(Reduce(1, 249)).code(), absl::StatusCode::kInvalidArgument);  // short payload
  Envelope stranger = Reduce(1);
  stranger.sender = "mallory";
  EXPECT_EQ(root_.OnPeer(stranger).code(), absl::StatusCode::kPermissionDenied);
  Envelope old = Reduce(1);
  old.policy_version = 99;
  EXPECT_EQ(root_.OnPeer(old).code(), absl::StatusCode::kFailedPrecondition);
  Envelope wrong_shard = Reduce(1);
  wrong_shard.shard = 3;
  EXPECT_EQ(root_.OnPeer(wrong_shard).code(), absl::StatusCode::kInvalidArgument);
  Envelope bad_relay = Reduce(1);
  bad_relay.route = {"nowhere"};
  EXPECT_EQ(root_.OnPeer(bad_relay).code(), absl::StatusCode::kInvalidArgument);
  Envelope result_from_child = Reduce(1);
  result_from_child.kind = ChunkKind::kBroadcast;
  EXPECT_EQ(root_.OnPeer(result_from_child).code(), absl::StatusCode::kPermissionDenied);
  // None of the refusals changed state: the chunk still completes with exactly the
  // expected inputs and sums 1 + 1 + 1 (three leaves) + the local 2.
  for (int leaf = 1; leaf <= 3; ++leaf) {
    Envelope e = Reduce(1);
    e.sender = policy_.data_centers[(policy_.shards[0].root + leaf) % 4];
    ASSERT_TRUE(root_.OnPeer(e).ok());
  }
  ASSERT_TRUE(root_.OnLocal(0, 1, "w0", std::make_shared<Floats>(250, 2.0f)).ok());
  EXPECT_EQ(root_.OnLocal(0, 1, "w0", std::make_shared<Floats>(250, 2.0f)).code(), absl::StatusCode::kAlreadyExists);
  // Star is push-then-pull: nothing leaves the root until the whole shard is summed.
  EXPECT_TRUE(root_.TakeResults().empty());
  EXPECT_TRUE(root_.TakeOutgoing().empty());
  for (int64_t k : {0, 2, 3}) {
    for (int leaf = 1; leaf <= 3; ++leaf) {
      Envelope e = Reduce(k);
      e.sender = policy_.data_centers[(policy_.shards[0].root + leaf) % 4];
      if (k == 0 && e.sender == Leaf()) continue;  // already in, from the first accepted chunk
      ASSERT_TRUE(root_.OnPeer(e).ok());
    }
    ASSERT_TRUE(root_.OnLocal(0, k, "w0", std::make_shared<Floats>(250, 2.0f)).ok());
  }
  std::vector<Result> results = root_.TakeResults();
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(root_.TakeOutgoing().size(), 4u * 3);  // every chunk to each of three DCs
  for (const Result& r : results) {
    EXPECT_EQ(r.contributors, 4);
    EXPECT_EQ((*r.data)[0], 5.0f) << "chunk " << r.chunk;
  }
  EXPECT_TRUE(root_.IterationDone(0));
}

TEST_F(AggregatorRejects, ContributionsFlattenedFromOtherTensorsAreNeverSummed) {
  Envelope named = Reduce(0);
  named.layout = 0xabc;
  ASSERT_TRUE(root_.OnPeer(named).ok());
  // A local gradient that is one flat tensor, or other named tensors, is refused by name.
  absl::Status flat = root_.OnLocal(0, 0, "w0", std::make_shared<Floats>(250, 2.0f));
  EXPECT_EQ(flat.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(flat.message().find("from 'w0' has tensor layout 0 where the others have abc"), std::string::npos) << flat;
  EXPECT_TRUE(IsLayoutMismatch(flat));
  EXPECT_FALSE(IsLayoutMismatch(root_.OnLocal(0, 0, "w0", std::make_shared<Floats>(9, 2.0f), 1, 0xabc)));
  EXPECT_EQ(root_.OnLocal(0, 0, "w0", std::make_shared<Floats>(250, 2.0f), 1, 0xdef).code(),
            absl::StatusCode::kFailedPrecondition);
  Envelope other = Reduce(0);
  other.sender = policy_.data_centers[(policy_.shards[0].root + 2) % 4];
  other.layout = 0xdef;
  EXPECT_EQ(root_.OnPeer(other).code(), absl::StatusCode::kFailedPrecondition);
  // The refusals were not counted as contributions: the right ones still complete it.
  other.layout = 0xabc;
  ASSERT_TRUE(root_.OnPeer(other).ok());
  EXPECT_TRUE(root_.OnLocal(0, 0, "w0", std::make_shared<Floats>(250, 2.0f), 1, 0xabc).ok());
}

TEST_F(AggregatorRejects, AbandonedIterationsRefuseLateChunks) {
  ASSERT_TRUE(root_.OnPeer(Reduce(0)).ok());
  EXPECT_EQ(root_.Abandon(1), std::vector<uint64_t>{0});
  EXPECT_EQ(root_.OnPeer(Reduce(2)).code(), absl::StatusCode::kFailedPrecondition);
  Envelope next = Reduce(2);
  next.iteration = 1;
  EXPECT_TRUE(root_.OnPeer(next).ok());
}

TEST(AggregatorPolicy, NewPolicyAppliesFromItsIteration) {
  core::Policy v1 = core::PlanTopology(MustLoad("mesh-4dc-uniform.yaml"), "star", 4'000, 1'000).value();
  core::Policy v2 = core::PlanTopology(MustLoad("mesh-4dc-uniform.yaml"), "ring", 4'000, 1'000).value();
  v2.version = 2;
  Aggregator a({"job", "a", 1, 4}, v1);
  ASSERT_TRUE(a.SetPolicy(v2, 5).ok());
  EXPECT_EQ(a.PolicyFor(4).strategy, "star");
  EXPECT_EQ(a.PolicyFor(5).strategy, "ring");
  EXPECT_FALSE(a.SetPolicy(v2, 9).ok());  // not newer
}

// A job that re-plans every few minutes for days must not keep every policy.
TEST(AggregatorPolicy, PoliciesNoIterationCanUseAnyMoreAreDropped) {
  core::Policy p = core::PlanTopology(MustLoad("mesh-4dc-uniform.yaml"), "star", 4'000, 1'000).value();
  Aggregator a({"job", "a", 1, 4}, p);
  for (uint64_t v = 2; v <= 200; ++v) {  // a new policy every iteration
    p.version = v;
    ASSERT_TRUE(a.SetPolicy(p, v).ok());
  }
  EXPECT_EQ(a.policies_kept(), 200u);  // nothing has run yet
  a.Abandon(150);                      // iterations below 150 are over
  EXPECT_EQ(a.policies_kept(), 200u - (150 - Aggregator::kPolicyHistory - 1));
  EXPECT_EQ(a.PolicyFor(150 - Aggregator::kPolicyHistory).version, 150 - Aggregator::kPolicyHistory);
  EXPECT_EQ(a.PolicyFor(3).version, 150 - Aggregator::kPolicyHistory);  // older: the oldest kept
  EXPECT_EQ(a.PolicyFor(170).version, 170u);
}

}  // namespace
}  // namespace geostorm::sidecar
