#include "sidecar/transport/link_meter.h"

namespace geostorm::sidecar {

void LinkMeter::AdvanceBusy(Clock::time_point now) {
  if (outstanding_ > 0) {
    const double busy = std::chrono::duration<double>(now - busy_since_).count();
    busy_total_ += busy;
    sample_busy_ += busy;
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
  sample_bytes_ += bytes;
  if (sample_busy_ >= std::chrono::duration<double>(min_sample_).count()) {
    const double rate = static_cast<double>(sample_bytes_) / sample_busy_;
    estimate_ = estimate_ == 0 ? rate : smoothing_ * rate + (1 - smoothing_) * estimate_;
    sample_busy_ = 0;
    sample_bytes_ = 0;
    sampled_at_ = now;
  }
}

void LinkMeter::OnLost(int64_t bytes, Clock::time_point now) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceBusy(now);
  outstanding_ = outstanding_ > bytes ? outstanding_ - bytes : 0;
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
