// LinkMeter: passive throughput of one outgoing link, from the training traffic
// itself. The link is busy while it has bytes sent but not yet acknowledged.
//
// Ack-clocked: an acknowledgement counts, over the time since the previous one,
// only when its chunk was written before the previous one had arrived, so that it
// waited behind it and the link was saturated in between (without the receiver's
// clock: when two or more chunks stood behind the previous ack). A lone chunk on
// an idle link would time the round trip, and a lightly used link would be timed
// at the rate its chunks were offered; neither gives a sample, and the estimate
// ages until traffic or a probe saturates the link.
//   - Acknowledgements are timed on the receiver's clock when they carry it. On
//     the way back they wait behind the reverse direction's queue and arrive
//     bunched when it drains, which on the sender's clock looks like a faster
//     link, or a slower one.
//   - What arrives at once at the start of a run (a token bucket's burst after
//     idle time, a lump of segments handed over together), up to 64 kB, is not
//     rate and is not counted.
// Smoothed: EWMA over samples of at least `min_sample`; but two samples in a row
// more than 20% off on the same side are a change of the link's rate, and the
// estimate jumps to them (bench/wan/meter_step.py measures the reaction).
// One sample more than 20% low alone is not taken: a TCP stream that lost a
// segment stalls for a retransmission timeout, and a sample that holds the stall
// is slower than the link. For the same reason a second sample faster than the
// first replaces it. Thread-safe.
#ifndef GEOSTORM_SIDECAR_TRANSPORT_LINK_METER_H_
#define GEOSTORM_SIDECAR_TRANSPORT_LINK_METER_H_

#include <chrono>
#include <cstdint>
#include <limits>
#include <mutex>

namespace geostorm::sidecar {

class LinkMeter {
 public:
  using Clock = std::chrono::steady_clock;

  explicit LinkMeter(std::chrono::milliseconds min_sample = std::chrono::milliseconds(250), double smoothing = 0.3)
      : min_sample_(min_sample), smoothing_(smoothing) {}

  // Bytes handed to the link at `now`.
  void OnSend(int64_t bytes, Clock::time_point now = Clock::now());
  // Bytes the receiver acknowledged at `now`, written to the stream at `written`;
  // `received_us`: when the receiver read them, in microseconds on its own
  // monotonic clock (0: not known, and `written` is not used).
  void OnAck(int64_t bytes, Clock::time_point now = Clock::now(), Clock::time_point written = {},
             int64_t received_us = 0);
  // Bytes that will never be acknowledged (the stream broke).
  void OnLost(int64_t bytes, Clock::time_point now = Clock::now());
  // Bytes handed to the link and taken back before they were written (the rest of
  // a probe that is no longer needed).
  void OnWithdrawn(int64_t bytes, Clock::time_point now = Clock::now());

  double bytes_per_second() const;  // 0 until the first sample
  int64_t outstanding_bytes() const;
  int64_t acked_bytes_total() const;
  double busy_seconds_total() const;
  // Seconds since the estimate last took a sample; infinity before the first.
  double age_seconds(Clock::time_point now = Clock::now()) const;
  // How many bytes of filler to send now to probe this link, for the estimate to
  // take a fresh sample: past the burst that is not counted, enough for one if the
  // link's rate has risen four times over (about five if it has kept its rate).
  // When the last probe gave no sample, the link is faster still, and each probe
  // in a row that gives none doubles the reach (8, 16, ... times), up to 8 MiB.
  // A link that carries traffic is probed too, behind it: traffic that does not
  // fill the link gives no sample (PeerLink keeps the probe's window small). 0
  // while the last probe is still under way.
  int64_t NextProbeBytes();
  // A probe was sized and the estimate has taken no sample since: the rest of a
  // probe that is no longer pending need not be sent.
  bool probe_pending() const;

 private:
  static double Seconds(Clock::time_point t);
  void AdvanceBusy(Clock::time_point now);
  void TakeSample(Clock::time_point now);  // the sample so far, into the estimate

  const std::chrono::milliseconds min_sample_;
  const double smoothing_;
  mutable std::mutex mu_;
  int64_t outstanding_ = 0;
  Clock::time_point busy_since_{};
  double busy_total_ = 0;
  int64_t acked_total_ = 0;
  double sample_busy_ = 0;
  int64_t sample_bytes_ = 0;
  double sample_touched_ = 0;  // seconds: when the sample last grew
  static constexpr double kStaleSampleSeconds = 1.0;
  double estimate_ = 0;
  int64_t samples_ = 0;  // taken into the estimate
  Clock::time_point sampled_at_{};
  // Bytes taken as a burst at the start of the current run; -1 once it counts.
  int64_t burst_bytes_ = 0;
  static constexpr int64_t kBurstBytes = 64 << 10;
  static constexpr int64_t kUnmeasuredProbeBytes = 1 << 20;
  static constexpr int64_t kMaxProbeBytes = 8 << 20;
  int fruitless_probes_ = 0;                       // probes in a row that gave no sample
  bool probed_ = false;                            // a probe was sent since the last sample
  static constexpr double kAtOnceSeconds = 0.001;  // at once, before there is an estimate
  struct Ack {
    bool remote = false;  // timed on the receiver's clock
    double at = 0;        // seconds: when it arrived (or was acknowledged), on the clock it was timed by
    double sent = 0;      // seconds: when it was written, on the sender's clock
    double delay() const { return at - sent; }  // one-way, plus the clocks' offset
  };
  Ack previous_;
  double min_delay_ = std::numeric_limits<double>::infinity();
  bool backlogged_ = false;  // two or more chunks were outstanding right after the last ack
  static constexpr double kShift = 0.2;
  int shifted_side_ = 0;  // the last sample was more than kShift above (1) or below (-1) the estimate
  double shifted_rate_ = 0;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_TRANSPORT_LINK_METER_H_
