// The rollout gate: held iterations and chunks, Prepare, Commit, Abort, Settle.
#include "sidecar/rollout_gate.h"

#include <gtest/gtest.h>

#include <thread>

namespace geostorm::sidecar {
namespace {

using std::chrono::milliseconds;

core::Activation Version(uint64_t v, uint64_t activate_at) {
  core::Activation a;
  a.policy.version = v;
  a.activate_at = activate_at;
  return a;
}

wire::Envelope Chunk(uint64_t iteration, int64_t chunk, size_t floats = 256) {
  wire::Envelope e;
  e.iteration = iteration;
  e.chunk = chunk;
  e.data = std::make_shared<wire::Floats>(floats, 1.0f);
  return e;
}

// An engine that records what it was given.
struct FakeEngine {
  uint64_t latest = 1;
  std::vector<core::Activation> activated;
  absl::Status refuse;             // what check() answers
  std::vector<uint64_t> prepared;  // versions told to `prepared`

  RolloutGate::Engine Hooks() {
    return {[this] { return latest; },
            [this](core::Activation a) {
              latest = a.policy.version;
              activated.push_back(std::move(a));
              return absl::OkStatus();
            },
            [this](const core::Policy&) { return refuse; },
            [this](const core::Activation& a) { prepared.push_back(a.policy.version); }};
  }
};

RolloutGate::Clock::time_point In(milliseconds d) { return RolloutGate::Clock::now() + d; }

TEST(RolloutGate, HoldsChunksOfHeldIterationsAndReleasesThemAtCommit) {
  FakeEngine engine;
  RolloutGate gate(engine.Hooks(), 1 << 20);
  ASSERT_TRUE(gate.AdmitIteration(3, In(milliseconds(0))).ok());
  ASSERT_TRUE(gate.Prepare(Version(2, 5)).status.ok());

  wire::Envelope now = Chunk(4, 0);
  EXPECT_EQ(gate.Offer(now, In(milliseconds(0))).value(), true);  // before activate_at: not held
  EXPECT_NE(now.data, nullptr);                                   // and left with the caller
  wire::Envelope later = Chunk(5, 1), much_later = Chunk(7, 2);
  EXPECT_EQ(gate.Offer(later, In(milliseconds(0))).value(), false);
  EXPECT_EQ(gate.Offer(much_later, In(milliseconds(0))).value(), false);
  EXPECT_EQ(gate.held_bytes(), 2 * 256 * 4);
  EXPECT_TRUE(gate.TakeReleased().empty());  // still held

  ASSERT_TRUE(gate.Commit(2).ok());
  ASSERT_EQ(engine.activated.size(), 1u);
  EXPECT_EQ(engine.activated[0].policy.version, 2u);
  EXPECT_EQ(engine.activated[0].activate_at, 5u);
  std::vector<wire::Envelope> released = gate.TakeReleased();
  ASSERT_EQ(released.size(), 2u);
  EXPECT_EQ(released[0].chunk, 1);  // in arrival order
  EXPECT_EQ(released[1].chunk, 2);
  EXPECT_EQ(gate.held_bytes(), 0);
}

TEST(RolloutGate, AbortReleasesWithoutActivating) {
  FakeEngine engine;
  RolloutGate gate(engine.Hooks(), 1 << 20);
  ASSERT_TRUE(gate.Prepare(Version(2, 0)).status.ok());
  wire::Envelope held = Chunk(0, 3);
  ASSERT_EQ(gate.Offer(held, In(milliseconds(0))).value(), false);
  gate.Abort(2);
  EXPECT_TRUE(engine.activated.empty());
  EXPECT_EQ(gate.TakeReleased().size(), 1u);
  EXPECT_FALSE(gate.Commit(2).ok());  // nothing prepared any more
}

TEST(RolloutGate, AnIterationWaitsForTheDecisionOrTimesOutNamingTheVersion) {
  FakeEngine engine;
  RolloutGate gate(engine.Hooks(), 1 << 20);
  ASSERT_TRUE(gate.Prepare(Version(4, 2)).status.ok());
  absl::Status timed_out = gate.AdmitIteration(2, In(milliseconds(20)));
  EXPECT_EQ(timed_out.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(timed_out.message().find("policy v4"), std::string::npos) << timed_out;

  // A commit from another thread lets a waiting iteration start.
  absl::Status admitted = absl::UnknownError("not run");
  std::thread worker([&] { admitted = gate.AdmitIteration(2, In(milliseconds(10'000))); });
  ASSERT_TRUE(gate.Commit(4).ok());
  worker.join();
  EXPECT_TRUE(admitted.ok()) << admitted;
  EXPECT_EQ(gate.highest(), 2u);
}

TEST(RolloutGate, RefusesChunksBeyondTheBoundWithTheReason) {
  FakeEngine engine;
  RolloutGate gate(engine.Hooks(), /*max_held_bytes=*/2 * 256 * 4);
  ASSERT_TRUE(gate.Prepare(Version(2, 0)).status.ok());
  for (int64_t k = 0; k < 2; ++k) {
    wire::Envelope e = Chunk(0, k);
    ASSERT_EQ(gate.Offer(e, In(milliseconds(0))).value(), false);
  }
  wire::Envelope third = Chunk(0, 2);
  absl::StatusOr<bool> refused = gate.Offer(third, In(milliseconds(10)));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("policy v2"), std::string::npos);
  EXPECT_NE(third.data, nullptr);  // not taken
  EXPECT_EQ(gate.held_bytes(), 2 * 256 * 4);
}

TEST(RolloutGate, PrepareIsRefusedWhenTheEngineCannotRunThePolicyOrItIsStale) {
  FakeEngine engine;
  RolloutGate gate(engine.Hooks(), 1 << 20);
  engine.refuse = absl::FailedPreconditionError("no address for 'c'");
  RolloutGate::Answer a = gate.Prepare(Version(2, 1));
  EXPECT_EQ(a.version, 2u);
  EXPECT_NE(a.status.message().find("no address for 'c'"), std::string::npos);
  EXPECT_FALSE(gate.prepared_version().has_value());

  engine.refuse = absl::OkStatus();
  engine.latest = 5;
  EXPECT_FALSE(gate.Prepare(Version(3, 1)).status.ok());  // older than what runs
  ASSERT_TRUE(gate.AdmitIteration(9, In(milliseconds(0))).ok());
  EXPECT_FALSE(gate.Prepare(Version(6, 9)).status.ok());  // iteration 9 has started here
  EXPECT_TRUE(gate.Prepare(Version(6, 10)).status.ok());
  // Each Prepare that the engine can run is told (for the event log), v2 not.
  EXPECT_EQ(engine.prepared, (std::vector<uint64_t>{3, 6, 6}));
}

TEST(RolloutGate, SettleActivatesWhatTheEngineLacksAndPreparesThePending) {
  FakeEngine engine;
  RolloutGate gate(engine.Hooks(), 1 << 20);
  ASSERT_TRUE(gate.Prepare(Version(2, 4)).status.ok());
  // The controller restarted: v2 was committed meanwhile, and v3 is pending.
  std::optional<RolloutGate::Answer> answer = gate.Settle({Version(1, 0), Version(2, 4)}, Version(3, 8));
  ASSERT_EQ(engine.activated.size(), 1u);
  EXPECT_EQ(engine.activated[0].policy.version, 2u);
  ASSERT_TRUE(answer.has_value());
  EXPECT_EQ(answer->version, 3u);
  EXPECT_TRUE(answer->status.ok()) << answer->status;
  EXPECT_EQ(gate.prepared_version(), 3u);

  // Nothing pending any more: the prepared v3 is dropped, nothing to answer.
  EXPECT_FALSE(gate.Settle({Version(1, 0), Version(2, 4)}, std::nullopt).has_value());
  EXPECT_FALSE(gate.prepared_version().has_value());
}

}  // namespace
}  // namespace geostorm::sidecar
