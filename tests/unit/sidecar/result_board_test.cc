// The result board: results in arrival order, failures with their reason,
// timeouts, and each chunk's data let go once its readers have had it.
#include "sidecar/result_board.h"

#include <gtest/gtest.h>

#include <thread>

namespace geostorm::sidecar {
namespace {

using std::chrono::milliseconds;

Result Chunk(uint64_t iteration, int64_t chunk) {
  return {iteration, chunk, 2, std::make_shared<wire::Floats>(4, static_cast<float>(chunk))};
}

ResultBoard::Clock::time_point In(milliseconds d) { return ResultBoard::Clock::now() + d; }

TEST(ResultBoard, HandsOutResultsInArrivalOrderToEverySubscriber) {
  ResultBoard board(2, 2);
  board.Subscribe(7);
  board.Subscribe(7);
  board.Publish(Chunk(7, 1));
  std::thread late([&] { board.Publish(Chunk(7, 0)); });
  for (int reader = 0; reader < 2; ++reader) {
    absl::StatusOr<Result> first = board.Next(7, 0, In(milliseconds(5000)));
    absl::StatusOr<Result> second = board.Next(7, 1, In(milliseconds(5000)));
    ASSERT_TRUE(first.ok() && second.ok());
    EXPECT_EQ(first->chunk, 1);
    EXPECT_EQ(second->chunk, 0);
  }
  late.join();
}

TEST(ResultBoard, AFailureReachesEveryWaiterWithItsReason) {
  ResultBoard board(2, 1);
  board.Subscribe(3);
  board.Publish(Chunk(3, 0));
  absl::Status seen;
  std::thread waiter([&] { seen = board.Next(3, 1, In(milliseconds(10'000))).status(); });
  board.Fail(3, "peer 'b' went away");
  waiter.join();
  EXPECT_EQ(seen.code(), absl::StatusCode::kAborted);
  EXPECT_EQ(seen.message(), "peer 'b' went away");
  EXPECT_TRUE(board.Next(3, 0, In(milliseconds(0))).ok());  // what arrived stays readable
}

TEST(ResultBoard, TimesOutNamingTheMissingChunk) {
  ResultBoard board(3, 1);
  board.Subscribe(1);
  absl::Status s = board.Next(1, 2, In(milliseconds(10))).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(s.message().find("result chunk 3 of 3"), std::string::npos) << s;
}

TEST(ResultBoard, ResultsPublishedBeforeTheSubscriptionAreKeptUntilComplete) {
  ResultBoard board(1, 1);
  board.Publish(Chunk(9, 0));  // complete, nobody subscribed: dropped
  board.Subscribe(9);
  EXPECT_FALSE(board.Next(9, 0, In(milliseconds(5))).ok());
  ResultBoard two(2, 1);
  two.Publish(Chunk(4, 0));  // incomplete: kept for a subscriber to come
  two.Subscribe(4);
  EXPECT_TRUE(two.Next(4, 0, In(milliseconds(5))).ok());
}

TEST(ResultBoard, LetsAChunkGoOnceEveryReaderHasItAndRefusesAReadBeyondThem) {
  ResultBoard board(2, 2);
  board.Subscribe(5);
  board.Subscribe(5);
  Result chunk = Chunk(5, 0);
  const std::weak_ptr<const wire::Floats> data = chunk.data;
  board.Publish(std::move(chunk));
  board.Publish(Chunk(5, 1));
  absl::StatusOr<Result> first = board.Next(5, 0, In(milliseconds(5)));
  ASSERT_TRUE(first.ok());
  first = absl::InternalError("the first reader has sent it");
  EXPECT_FALSE(data.expired()) << "dropped before the second reader had it";
  absl::StatusOr<Result> second = board.Next(5, 0, In(milliseconds(5)));
  ASSERT_TRUE(second.ok());
  EXPECT_EQ((*second->data)[0], 0.0F);
  second = absl::InternalError("the second reader has sent it");
  EXPECT_TRUE(data.expired()) << "the board still holds a chunk that both readers had";

  absl::Status third = board.Next(5, 0, In(milliseconds(5))).status();
  EXPECT_EQ(third.code(), absl::StatusCode::kFailedPrecondition) << third;
  EXPECT_NE(third.message().find("result chunk 1 was read by all 2"), std::string::npos) << third;
  EXPECT_TRUE(board.Next(5, 1, In(milliseconds(5))).ok());  // the others are untouched
}

}  // namespace
}  // namespace geostorm::sidecar
