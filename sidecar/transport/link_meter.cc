#include "sidecar/transport/link_meter.h"

namespace geostorm::sidecar {

void LinkMeter::AdvanceBusy(Clock::time_point now) {
  if (outstanding_ > 0) {
    const double busy = std::chrono::duration<double>(now - busy_since_).count();
    busy_total_ += busy;
  }
  busy_since_ = now;
}

void LinkMeter::OnSend(int64_t bytes, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceBusy(now);
  outstanding_ += bytes;
}

void LinkMeter::OnAck(int64_t bytes, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceBusy(now);
  outstanding_ = outstanding_ > bytes ? outstanding_ - bytes : 0;
  acked_total_ += bytes;
  // Ack-clocked: an ack gives a sample (the time since the previous ack) only when
  // a standing queue of at least two more chunks was waiting at the previous ack,
  // so the link was saturated in between. Otherwise acks are spaced by how fast
  // chunks were offered, or by the round trip, and a lightly used link would look
  // slow.
  const bool backlogged = backlogged_;
  backlogged_ = outstanding_ >= 2 * bytes;
  const Clock::time_point previous = last_ack_;
  last_ack_ = now;
  if (!backlogged) return;
  sample_bytes_ += bytes;
  sample_busy_ += std::chrono::duration<double>(now - previous).count();
  if (sample_busy_ >= std::chrono::duration<double>(min_sample_).count()) {
    const double rate = static_cast<double>(sample_bytes_) / sample_busy_;
    // Two samples in a row off by more than kShift on the same side: the link's rate
    // has changed (a reroute, cross traffic, a new tc rate), and the estimate jumps
    // to them instead of creeping there by the smoothing (7 samples to within 10%).
    const int side = estimate_ == 0                    ? 0
                     : rate > estimate_ * (1 + kShift) ? 1
                     : rate < estimate_ * (1 - kShift) ? -1
                                                       : 0;
    if (estimate_ == 0) {
      estimate_ = rate;
    } else if (side != 0 && side == shifted_side_) {
      estimate_ = (rate + shifted_rate_) / 2;
      shifted_side_ = 0;
    } else {
      estimate_ = smoothing_ * rate + (1 - smoothing_) * estimate_;
      shifted_side_ = side;
      shifted_rate_ = rate;
    }
    sample_busy_ = 0;
    sample_bytes_ = 0;
    sampled_at_ = now;
  }
}

void LinkMeter::OnLost(int64_t bytes, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceBusy(now);
  outstanding_ = outstanding_ > bytes ? outstanding_ - bytes : 0;
  backlogged_ = false;
}

double LinkMeter::bytes_per_second() const {
  std::lock_guard<std::mutex> lock(mu_);
  return estimate_;
}

int64_t LinkMeter::outstanding_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return outstanding_;
}

int64_t LinkMeter::acked_bytes_total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return acked_total_;
}

double LinkMeter::busy_seconds_total() const {
  std::lock_guard<std::mutex> lock(mu_);
  return busy_total_;
}

double LinkMeter::age_seconds(Clock::time_point now) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (estimate_ == 0) return std::numeric_limits<double>::infinity();
  return std::chrono::duration<double>(now - sampled_at_).count();
}

}  // namespace geostorm::sidecar
