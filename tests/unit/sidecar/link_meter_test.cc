// The passive link meter: rate samples only while a queue stands, smoothing, ageing.
#include "sidecar/transport/link_meter.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <deque>
#include <utility>
#include <vector>

namespace geostorm::sidecar {
namespace {

TEST(LinkMeter, AckClockedWhileAQueueStands) {
  using std::chrono::milliseconds;
  LinkMeter meter(milliseconds(50), 1.0);  // no smoothing: the last sample
  const auto t0 = LinkMeter::Clock::time_point{};
  for (int i = 0; i < 4; ++i) meter.OnSend(500'000, t0);
  meter.OnAck(500'000, t0 + milliseconds(150));  // its time includes the round trip: it only starts the clock
  meter.OnAck(500'000, t0 + milliseconds(250));  // two chunks were queued behind: it counts
  EXPECT_EQ(meter.bytes_per_second(), 0);        // the sample ends at the next ack, if no lump goes on
  meter.OnAck(500'000, t0 + milliseconds(350));
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 5'000'000);
  meter.OnAck(500'000, t0 + milliseconds(650));  // only one was left: maybe not saturated
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 5'000'000);
  // A lone chunk after idle time gives no sample either: the estimate stays and ages.
  meter.OnSend(1'000'000, t0 + milliseconds(10'000));
  meter.OnAck(1'000'000, t0 + milliseconds(10'400));
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 5'000'000);
  EXPECT_NEAR(meter.age_seconds(t0 + milliseconds(10'400)), 9.75, 1e-9);  // the sample ended at 650 ms
  EXPECT_NEAR(meter.busy_seconds_total(), 1.05, 1e-9);
  EXPECT_EQ(meter.acked_bytes_total(), 3'000'000);
  EXPECT_EQ(meter.outstanding_bytes(), 0);
}

TEST(LinkMeter, TakesSamplesAndForgetsLostBytes) {
  using std::chrono::milliseconds;
  LinkMeter meter(milliseconds(50), 0.5);
  const auto t0 = LinkMeter::Clock::time_point{};
  for (int i = 0; i < 4; ++i) meter.OnSend(100, t0);
  meter.OnAck(100, t0 + milliseconds(50));
  meter.OnAck(100, t0 + milliseconds(150));  // 1000 B/s
  meter.OnAck(100, t0 + milliseconds(200));  // 2000 B/s; it ends the first sample
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 1000);
  meter.OnAck(100, t0 + milliseconds(300));  // the end of the run ends the second, faster: it replaces the first
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 2000);
  for (int i = 0; i < 3; ++i) meter.OnSend(500, t0 + milliseconds(400));
  meter.OnLost(1500, t0 + milliseconds(500));  // the stream broke: nothing stands any more
  EXPECT_EQ(meter.outstanding_bytes(), 0);
  for (int i = 0; i < 3; ++i) meter.OnSend(500, t0 + milliseconds(600));
  meter.OnAck(500, t0 + milliseconds(900));
  EXPECT_DOUBLE_EQ(meter.bytes_per_second(), 2000);
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

// Samples of 250 ms: 25 acks 10 ms apart (10 MB/s), or 10 acks 25 ms apart (4 MB/s).
// Each ends at the ack after it.
TEST(LinkMeter, AStepInTheRateIsFollowedInTwoSamplesAndOneSlowOutlierIsNotTaken) {
  using std::chrono::milliseconds;
  LinkMeter meter(milliseconds(245), 0.3);
  auto t = LinkMeter::Clock::time_point{};
  for (int i = 0; i < 3; ++i) meter.OnSend(100'000, t);  // a standing queue from the start
  t = Saturate(meter, t, 1, milliseconds(10));           // the first ack only starts the clock
  t = Saturate(meter, t, 101, milliseconds(10));         // 4 samples at 10 MB/s
  EXPECT_NEAR(meter.bytes_per_second(), 10e6, 1e3);
  const auto sampled =
      t - std::chrono::duration_cast<LinkMeter::Clock::duration>(std::chrono::duration<double>(meter.age_seconds(t)));
  // One slow sample (a stall, such as a retransmission timeout): not taken, and
  // the estimate is no younger for it. (It holds one ack at 10 MB/s.)
  t = Saturate(meter, t, 10, milliseconds(25));
  t = Saturate(meter, t, 1, milliseconds(10));
  EXPECT_NEAR(meter.bytes_per_second(), 10e6, 1e3);
  EXPECT_NEAR(meter.age_seconds(t), std::chrono::duration<double>(t - sampled).count(), 1e-9);
  t = Saturate(meter, t, 250, milliseconds(10));  // back at 10 MB/s
  EXPECT_NEAR(meter.bytes_per_second(), 10e6, 0.1e6);
  // The rate steps down to 4 MB/s and stays: the first sample is held, the second
  // is taken (the higher of the two: a stall only ever makes a sample slower).
  t = Saturate(meter, t, 11, milliseconds(25));
  EXPECT_NEAR(meter.bytes_per_second(), 10e6, 0.1e6);
  t = Saturate(meter, t, 10, milliseconds(25));
  EXPECT_NEAR(meter.bytes_per_second(), 4e6, 0.3e6);
  // And back up to 10 MB/s: the first sample is smoothed in, the second is taken.
  t = Saturate(meter, t, 26, milliseconds(10));
  EXPECT_NEAR(meter.bytes_per_second(), 0.3 * 10e6 + 0.7 * 4e6, 0.4e6);
  t = Saturate(meter, t, 50, milliseconds(10));
  EXPECT_NEAR(meter.bytes_per_second(), 10e6, 0.4e6);
}

// The first sample timed a stall, or TCP's slow start: the second, faster one
// replaces it instead of being smoothed in.
TEST(LinkMeter, AFasterSecondSampleReplacesTheFirst) {
  using std::chrono::milliseconds;
  LinkMeter meter(milliseconds(245), 0.3);
  auto t = LinkMeter::Clock::time_point{};
  for (int i = 0; i < 3; ++i) meter.OnSend(100'000, t);
  t = Saturate(meter, t, 1, milliseconds(10));
  t = Saturate(meter, t, 10, milliseconds(25));  // 4 MB/s
  t = Saturate(meter, t, 26, milliseconds(10));  // 10 MB/s (and one ack at 4)
  EXPECT_GT(meter.bytes_per_second(), 9e6);
}

// A link at 1 MB/s, saturated with 100 kB chunks for 12 s. Its acknowledgements
// come back behind the reverse direction's queue: every 1.2 s that direction's
// traffic fills it with 400 ms of data, so acknowledgements stop for up to 400 ms
// and then arrive all at once when it has drained.
// Returns the estimate's lowest and highest values once it has one.
std::pair<double, double> UnderAckCompression(bool receiver_clock) {
  using std::chrono::microseconds;
  LinkMeter meter(std::chrono::milliseconds(250), 0.3);
  const auto t0 = LinkMeter::Clock::time_point{};
  std::deque<LinkMeter::Clock::time_point> written(8, t0);  // a window of 8 chunks, one more per ack
  for (int i = 0; i < 8; ++i) meter.OnSend(100'000, t0);
  double low = 1e300, high = 0;
  for (int64_t k = 1; k <= 120; ++k) {
    const int64_t read_us = k * 100'000 + 50'000;  // on the receiver's clock; the sender's is the same here
    const auto acked = t0 + microseconds(read_us + std::max<int64_t>(0, 400'000 - read_us % 1'200'000));
    meter.OnAck(100'000, acked, written.front(), receiver_clock ? read_us : 0);
    written.pop_front();
    written.push_back(acked);
    meter.OnSend(100'000, acked);
    if (meter.bytes_per_second() > 0) {
      low = std::min(low, meter.bytes_per_second());
      high = std::max(high, meter.bytes_per_second());
    }
  }
  return {low, high};
}

TEST(LinkMeter, AcknowledgementsBunchedOnTheWayBackDoNotLookLikeAFasterLink) {
  const auto [low, high] = UnderAckCompression(/*receiver_clock=*/true);
  EXPECT_NEAR(low, 1e6, 1e3);
  EXPECT_NEAR(high, 1e6, 1e3);
  // On the sender's clock alone the same link looks much faster at times.
  const auto [sender_low, sender_high] = UnderAckCompression(/*receiver_clock=*/false);
  EXPECT_GT(sender_high, 1.25e6) << sender_low;
}

// Rounds of 16 kB chunks on a link at 1 MB/s, all written at the round's start and
// read at `read_us` after it (on the receiver's clock, 1 s ahead of the sender's);
// each round starts 200 ms after the previous one's last read. The estimate after.
double AfterRounds(int rounds, const std::vector<int64_t>& read_us) {
  constexpr int64_t kChunk = 16'384;
  LinkMeter meter(std::chrono::milliseconds(250), 0.3);
  int64_t start_us = 1'000'000;
  for (int round = 0; round < rounds; ++round) {
    const auto written = LinkMeter::Clock::time_point{} + std::chrono::microseconds(start_us - 1'000'000);
    for (size_t k = 0; k < read_us.size(); ++k) meter.OnSend(kChunk, written);
    for (int64_t read : read_us) {
      meter.OnAck(kChunk, written + std::chrono::microseconds(read + 500), written, start_us + read);
    }
    start_us += read_us.back() + 200'000;
  }
  return meter.bytes_per_second();
}

// A token bucket lets 32 kB through at once after idle time: of 20 chunks, the
// first three arrive together, the rest one per 16.4 ms.
TEST(LinkMeter, ABurstAtTheStartOfEachRunIsNotTakenForRate) {
  std::vector<int64_t> reads = {0, 0, 0};
  for (int64_t k = 1; k <= 17; ++k) reads.push_back(k * 16'384);  // 1 us per byte
  // Bytes over time would say 19 chunks in 17 chunk-times: 1.12 MB/s.
  EXPECT_NEAR(AfterRounds(10, reads), 1e6, 0.03e6);
}

// The kernel hands chunks over in lumps, each when the link has carried it: 7
// chunks read as 2 (a token bucket's burst), 4, and 1.
TEST(LinkMeter, ChunksReadInLumpsAreTimedFromLumpToLump) {
  const std::vector<int64_t> reads = {1, 2, 65'539, 65'540, 65'541, 65'542, 81'927};
  EXPECT_NEAR(AfterRounds(20, reads), 1e6, 0.01e6);
}

// Writes `bytes` of 16 kB chunks at once at `start_us`, read one chunk per
// 16 kB / `bytes_per_us` after a 32 kB burst, each acknowledged 0.5 ms later.
void WriteAtOnce(LinkMeter& meter, int64_t start_us, int64_t bytes, double bytes_per_us) {
  using std::chrono::microseconds;
  constexpr int64_t kChunk = 16'384;
  const auto t0 = LinkMeter::Clock::time_point{};
  const auto written = t0 + microseconds(start_us);
  const int64_t chunks = (bytes + kChunk - 1) / kChunk;
  for (int64_t k = 0; k < chunks; ++k) meter.OnSend(kChunk, written);
  for (int64_t k = 0; k < chunks; ++k) {
    const int64_t read =
        start_us + 500 + static_cast<int64_t>(static_cast<double>(std::max<int64_t>(0, k - 2) * kChunk) / bytes_per_us);
    meter.OnAck(kChunk, t0 + microseconds(read + 500), written, read);
  }
}

// An idle link last measured at 1 MB/s now carries 4 MB/s: a probe of
// NextProbeBytes() gives the estimate a fresh sample of the new rate.
TEST(LinkMeter, AProbeTimesALinkWhoseRateRoseFourTimes) {
  LinkMeter meter(std::chrono::milliseconds(250), 0.3);
  EXPECT_EQ(meter.NextProbeBytes(), 1 << 20);  // nothing known yet
  WriteAtOnce(meter, 0, 2'000'000, 1.0);       // 1 MB/s for 2 s
  ASSERT_NEAR(meter.bytes_per_second(), 1e6, 0.02e6);
  const int64_t probe = meter.NextProbeBytes();
  EXPECT_GT(probe, 4 * 250'000);  // a 250 ms sample at four times the rate
  EXPECT_LT(probe, 8 * 250'000);
  WriteAtOnce(meter, 60'000'000, probe, 4.0);  // a minute later, at 4 MB/s
  const auto t = LinkMeter::Clock::time_point{} + std::chrono::seconds(61);
  EXPECT_LT(meter.age_seconds(t), 1.0);
  EXPECT_GT(meter.bytes_per_second(), 1.8e6);
}

// Traffic that does not fill a link gives no sample, so a link that carries some
// is probed too (behind it); but not again while that probe is under way.
TEST(LinkMeter, ALinkCarryingTrafficIsProbedOnceAtATime) {
  LinkMeter meter;
  const auto t0 = LinkMeter::Clock::time_point{};
  meter.OnSend(16'384, t0);
  EXPECT_EQ(meter.NextProbeBytes(), 1 << 20);
  meter.OnSend(1 << 20, t0);
  EXPECT_EQ(meter.NextProbeBytes(), 0);
  meter.OnAck((1 << 20) + 16'384, t0 + std::chrono::seconds(1));
  EXPECT_EQ(meter.NextProbeBytes(), 2 << 20);  // that one gave no sample
}

// Seven times faster: the first probe passes too quickly for a sample, so the next
// reaches twice as far, and that one is timed. A link the plan avoids because it
// once measured slow is not stuck at that estimate.
TEST(LinkMeter, AProbeThatGaveNoSampleIsFollowedByOneTwiceAsLarge) {
  LinkMeter meter(std::chrono::milliseconds(250), 0.3);
  WriteAtOnce(meter, 0, 2'000'000, 1.0);
  const int64_t first = meter.NextProbeBytes();
  const auto t = LinkMeter::Clock::time_point{} + std::chrono::seconds(61);
  meter.OnSend(16'384, t - std::chrono::seconds(3));
  EXPECT_EQ(meter.NextProbeBytes(), 0);  // the probe is still under way
  meter.OnAck(16'384, t - std::chrono::seconds(2));
  WriteAtOnce(meter, 60'000'000, first, 7.0);
  EXPECT_GT(meter.age_seconds(t), 50.0);  // no sample: the estimate is as old as before
  const int64_t second = meter.NextProbeBytes();
  EXPECT_NEAR(static_cast<double>(second), 2.0 * static_cast<double>(first), 1.0);
  WriteAtOnce(meter, 62'000'000, second, 7.0);
  EXPECT_LT(meter.age_seconds(t + std::chrono::seconds(2)), 1.0);
  EXPECT_GT(meter.bytes_per_second(), 2.5e6);  // 0.3 of a 7 MB/s sample
  // The sample resets the reach to four times the (new) estimate.
  EXPECT_NEAR(static_cast<double>(meter.NextProbeBytes()), 65'536 + 4 * meter.bytes_per_second() * 0.3, 1.0);
}

}  // namespace
}  // namespace geostorm::sidecar
