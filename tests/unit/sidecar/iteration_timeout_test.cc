#include <gtest/gtest.h>

#include "sidecar/sidecar.h"

namespace geostorm::sidecar {
namespace {

using std::chrono::milliseconds;

core::Policy Predicting(double seconds) {
  core::Policy p;
  p.predicted_seconds = seconds;
  return p;
}

TEST(IterationTimeout, FollowsThePredictionAboveTheFloor) {
  // A 1 GB model on a slow WAN: 40 s predicted must not fail at a flat minute.
  EXPECT_EQ(IterationTimeout(milliseconds(0), Predicting(40)), milliseconds(200000));
  EXPECT_EQ(IterationTimeout(milliseconds(0), Predicting(0.2)), kTimeoutFloor);
  EXPECT_EQ(IterationTimeout(milliseconds(0), core::Policy{}), kTimeoutFloor);  // not predicted: the floor
}

TEST(IterationTimeout, AGivenTimeoutWins) {
  EXPECT_EQ(IterationTimeout(milliseconds(2000), Predicting(40)), milliseconds(2000));
}

}  // namespace
}  // namespace geostorm::sidecar
