// The synthetic worker's check, fed each corruption a data plane could make. The
// old check (values periodic in the element index, the same for many workers)
// passed the misplaced chunk and the doubled contribution below.
#include "client/synthetic_gradient.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <numeric>
#include <random>
#include <vector>

namespace geostorm {
namespace {

constexpr int kWorkers = 18;  // 9 DCs x 2
constexpr int64_t kFloats = 1 << 15;
constexpr int64_t kChunk = 1 << 10;  // floats per chunk
constexpr uint64_t kIteration = 7;

// The sum a data plane hands back, with `corrupt(worker, contribution)` applied
// to each worker's contribution first (it may empty it, to drop it).
std::vector<float> SumOf(const SyntheticGradient& g, uint64_t t,
                         const std::function<void(int, std::vector<float>&)>& corrupt = nullptr) {
  std::vector<float> sum(kFloats, 0);
  for (int w = 0; w < kWorkers; ++w) {
    std::vector<float> mine(kFloats);
    g.Fill(w, t, absl::MakeSpan(mine));
    if (corrupt) corrupt(w, mine);
    for (size_t i = 0; i < mine.size(); ++i) sum[i] += mine[i];
  }
  return sum;
}

TEST(SyntheticGradient, TheExactSumPassesInAnyOrder) {
  const SyntheticGradient g(kWorkers);
  EXPECT_EQ(g.FirstWrong(kIteration, SumOf(g, kIteration)), -1);
  // Summed backwards, and in a random order of workers per element: still exact.
  std::vector<int> order(kWorkers);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937 rng(3);
  std::vector<float> sum(kFloats, 0);
  for (int64_t i = 0; i < kFloats; ++i) {
    std::shuffle(order.begin(), order.end(), rng);
    for (int w : order) sum[i] += g.Value(w, kIteration, i);
    ASSERT_LT(std::fabs(sum[i]), float(1 << 24));
    ASSERT_EQ(sum[i], std::floor(sum[i]));
  }
  EXPECT_EQ(g.FirstWrong(kIteration, sum), -1);
}

TEST(SyntheticGradient, EveryContributionIsItsOwn) {
  const SyntheticGradient g(kWorkers);
  for (int64_t i = 0; i < 64; ++i) {
    std::vector<float> at_i;
    for (int w = 0; w < kWorkers; ++w) {
      EXPECT_GT(g.Value(w, kIteration, i), 0);  // so that dropping one shows
      at_i.push_back(g.Value(w, kIteration, i));
    }
    std::sort(at_i.begin(), at_i.end());
    EXPECT_EQ(std::adjacent_find(at_i.begin(), at_i.end()), at_i.end()) << "two workers send the same at " << i;
  }
}

TEST(SyntheticGradient, ADroppedContributionIsCaught) {
  const SyntheticGradient g(kWorkers);
  for (int dropped = 0; dropped < kWorkers; ++dropped) {
    const std::vector<float> sum = SumOf(g, kIteration, [&](int w, std::vector<float>& mine) {
      if (w == dropped) std::fill(mine.begin() + 3 * kChunk, mine.begin() + 4 * kChunk, 0.0F);
    });
    EXPECT_EQ(g.FirstWrong(kIteration, sum), 3 * kChunk) << "worker " << dropped;
  }
}

TEST(SyntheticGradient, AContributionCountedTwiceInPlaceOfAnotherIsCaught) {
  const SyntheticGradient g(kWorkers);
  for (int twice = 0; twice < kWorkers; ++twice) {
    const int dropped = (twice + 5) % kWorkers;
    std::vector<float> doubled(kFloats);
    g.Fill(twice, kIteration, absl::MakeSpan(doubled));
    const std::vector<float> sum = SumOf(g, kIteration, [&](int w, std::vector<float>& mine) {
      if (w == dropped) std::copy(doubled.begin() + kChunk, doubled.begin() + 2 * kChunk, mine.begin() + kChunk);
    });
    EXPECT_EQ(g.FirstWrong(kIteration, sum), kChunk) << twice << " in place of " << dropped;
  }
}

TEST(SyntheticGradient, AChunkAtAnotherOffsetIsCaught) {
  const SyntheticGradient g(kWorkers);
  const std::vector<float> right = SumOf(g, kIteration);
  // Shifts of whole chunks, and of 17 floats and its multiples (the old check's
  // period), in the finished sum and in a single worker's contribution.
  for (int64_t shift : {kChunk, 2 * kChunk, 17 * kChunk, int64_t{17}, int64_t{17 * 60}}) {
    std::vector<float> sum = right;
    std::copy(right.begin(), right.begin() + kChunk, sum.begin() + shift);
    EXPECT_EQ(g.FirstWrong(kIteration, sum), shift) << "the sum's chunk 0 at " << shift;
    sum = SumOf(g, kIteration, [&](int w, std::vector<float>& mine) {
      if (w == 4) std::copy(mine.begin(), mine.begin() + kChunk, mine.begin() + shift);
    });
    EXPECT_EQ(g.FirstWrong(kIteration, sum), shift) << "worker 4's chunk 0 at " << shift;
  }
}

TEST(SyntheticGradient, AChunkFromAnotherIterationIsCaught) {
  const SyntheticGradient g(kWorkers);
  std::vector<float> sum = SumOf(g, kIteration);
  const std::vector<float> stale = SumOf(g, kIteration - 1);
  std::copy(stale.begin() + 5 * kChunk, stale.begin() + 6 * kChunk, sum.begin() + 5 * kChunk);
  EXPECT_EQ(g.FirstWrong(kIteration, sum), 5 * kChunk);
}

TEST(SyntheticGradient, SumsStayExactUpToTheMostWorkers) {
  const SyntheticGradient g(SyntheticGradient::kMaxWorkers);
  for (int64_t i = 0; i < 1000; ++i) {
    double exact = 0;
    float sum = 0;
    for (int w = 0; w < SyntheticGradient::kMaxWorkers; ++w) {
      exact += g.Value(w, kIteration, i);
      sum += g.Value(w, kIteration, i);
    }
    ASSERT_LT(exact, double(1 << 24));
    ASSERT_EQ(double(sum), exact) << i;
    ASSERT_EQ(sum, g.Sum(kIteration, i));
  }
}

}  // namespace
}  // namespace geostorm
