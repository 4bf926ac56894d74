// LinkMeter: passive throughput of one outgoing link, from the training traffic
// itself. The link is busy while it has bytes sent but not yet acknowledged. The
// estimate is bytes acknowledged over busy time, on the sender's clock only,
// ack-clocked: an acknowledgement counts, over the time since the previous one,
// only when a standing queue of two or more chunks was waiting at the previous one
// (the link was saturated). A lone chunk on an idle link would time the round trip,
// and a lightly used link would be timed at the rate its chunks were offered; both
// give no sample, and the estimate ages until traffic or a probe saturates the link.
// Smoothed: EWMA over samples of at least `min_sample`; but two samples in a row
// more than 20% off on the same side are a change of the link's rate, and the
// estimate jumps to their mean (bench/wan/meter_step.py measures the reaction).
// Thread-safe.
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
  // Bytes the receiver acknowledged at `now`.
  void OnAck(int64_t bytes, Clock::time_point now = Clock::now());
  // Bytes that will never be acknowledged (the stream broke).
  void OnLost(int64_t bytes, Clock::time_point now = Clock::now());

  double bytes_per_second() const;  // 0 until the first sample
  int64_t outstanding_bytes() const;
  int64_t acked_bytes_total() const;
  double busy_seconds_total() const;
  // Seconds since the estimate last took a sample; infinity before the first.
  double age_seconds(Clock::time_point now = Clock::now()) const;

 private:
  void AdvanceBusy(Clock::time_point now);

  const std::chrono::milliseconds min_sample_;
  const double smoothing_;
  mutable std::mutex mu_;
  int64_t outstanding_ = 0;
  Clock::time_point busy_since_{};
  double busy_total_ = 0;
  int64_t acked_total_ = 0;
  double sample_busy_ = 0;
  int64_t sample_bytes_ = 0;
  double estimate_ = 0;
  Clock::time_point sampled_at_{};
  Clock::time_point last_ack_{};
  bool backlogged_ = false;  // two or more chunks were outstanding right after the last ack
  static constexpr double kShift = 0.2;
  int shifted_side_ = 0;  // the last sample was more than kShift above (1) or below (-1) the estimate
  double shifted_rate_ = 0;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_TRANSPORT_LINK_METER_H_
