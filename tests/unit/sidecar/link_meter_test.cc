// The passive link meter: rate samples only while a queue stands, smoothing, ageing.
#include "sidecar/transport/link_meter.h"

#include <gtest/gtest.h>

namespace geostorm::sidecar {
namespace {

TEST(LinkMeter, AckClockedWhileAQueueStands) {
  using std::chrono::milliseconds;
  LinkMeter meter(milliseconds(50), 1.0);  // no smoothing: the last sample
  const auto t0 = LinkMeter::Clock::time_point{};
  for (int i = 0; i < 4; ++i) meter.OnSend(500'000, t0);
  meter.OnAck(500'000, t0 + milliseconds(150));  // its time includes the round trip: no sample
  EXPECT_EQ(meter.bytes_per_second(), 0);
  meter.OnAck(500'000, t0 + milliseconds(250));  // two chunks were queued behind: a sample
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 5'000'000);
  meter.OnAck(500'000, t0 + milliseconds(350));
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 5'000'000);
  meter.OnAck(500'000, t0 + milliseconds(650));  // only one was left: maybe not saturated
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 5'000'000);
  // A lone chunk after idle time gives no sample either: the estimate stays and ages.
  meter.OnSend(1'000'000, t0 + milliseconds(10'000));
  meter.OnAck(1'000'000, t0 + milliseconds(10'400));
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 5'000'000);
  EXPECT_NEAR(meter.age_seconds(t0 + milliseconds(10'400)), 10.05, 1e-9);
  EXPECT_NEAR(meter.busy_seconds_total(), 1.05, 1e-9);
  EXPECT_EQ(meter.acked_bytes_total(), 3'000'000);
  EXPECT_EQ(meter.outstanding_bytes(), 0);
}

TEST(LinkMeter, SmoothsAndForgetsLostBytes) {
  using std::chrono::milliseconds;
  LinkMeter meter(milliseconds(50), 0.5);
  const auto t0 = LinkMeter::Clock::time_point{};
  for (int i = 0; i < 4; ++i) meter.OnSend(100, t0);
  meter.OnAck(100, t0 + milliseconds(50));
  meter.OnAck(100, t0 + milliseconds(150));  // 1000 B/s
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 1000);
  meter.OnAck(100, t0 + milliseconds(200));  // 2000 B/s, smoothed
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 1500);
  meter.OnAck(100, t0 + milliseconds(300));
  for (int i = 0; i < 3; ++i) meter.OnSend(500, t0 + milliseconds(400));
  meter.OnLost(1500, t0 + milliseconds(500));  // the stream broke: nothing stands any more
  EXPECT_EQ(meter.outstanding_bytes(), 0);
  for (int i = 0; i < 3; ++i) meter.OnSend(500, t0 + milliseconds(600));
  meter.OnAck(500, t0 + milliseconds(900));
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 1500);
}

// Saturated acks of `chunk` bytes every `gap`, from `t` on, `n` of them; returns the time after.
LinkMeter::Clock::time_point Saturate(LinkMeter& meter, LinkMeter::Clock::time_point t, int n,
                                      std::chrono::milliseconds gap, int64_t chunk = 100'000) {
  for (int i = 0; i < n; ++i) {
    meter.OnSend(chunk, t);
    t += gap;
    meter.OnAck(chunk, t);
  }
  return t;
}

TEST(LinkMeter, AStepInTheRateIsFollowedInTwoSamplesAndOneOutlierIsOnlySmoothed) {
  using std::chrono::milliseconds;
  LinkMeter meter(milliseconds(245), 0.3);  // samples of 250 ms below: 25 acks 10 ms apart, or 10 acks 25 ms apart
  auto t = LinkMeter::Clock::time_point{};
  for (int i = 0; i < 3; ++i) meter.OnSend(100'000, t);  // a standing queue from the start
  t = Saturate(meter, t, 1, milliseconds(10));           // the first ack only starts the clock
  t = Saturate(meter, t, 100, milliseconds(10));         // 4 samples at 10 MB/s
  EXPECT_NEAR(meter.bytes_per_second(), 10e6, 1e3);
  // One slow sample (a hiccup): smoothed in, not taken.
  t = Saturate(meter, t, 10, milliseconds(25));  // 4 MB/s
  EXPECT_NEAR(meter.bytes_per_second(), 0.3 * 4e6 + 0.7 * 10e6, 1e3);
  t = Saturate(meter, t, 250, milliseconds(10));  // back at 10 MB/s: the smoothing recovers
  EXPECT_NEAR(meter.bytes_per_second(), 10e6, 0.1e6);
  // The rate steps down to 4 MB/s and stays: the first sample is smoothed, the second is taken.
  t = Saturate(meter, t, 10, milliseconds(25));
  EXPECT_NEAR(meter.bytes_per_second(), 0.3 * 4e6 + 0.7 * 10e6, 0.05e6);
  t = Saturate(meter, t, 10, milliseconds(25));
  EXPECT_NEAR(meter.bytes_per_second(), 4e6, 1e3);
  // And back up to 10 MB/s, the same.
  t = Saturate(meter, t, 50, milliseconds(10));
  EXPECT_NEAR(meter.bytes_per_second(), 10e6, 1e3);
}

}  // namespace
}  // namespace geostorm::sidecar
