#include "sidecar/transport/link_meter.h"

#include <algorithm>

namespace geostorm::sidecar {

double LinkMeter::Seconds(Clock::time_point t) { return std::chrono::duration<double>(t.time_since_epoch()).count(); }

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

void LinkMeter::OnAck(int64_t bytes, Clock::time_point now, Clock::time_point written, int64_t received_us) {
  std::lock_guard<std::mutex> lock(mu_);
  AdvanceBusy(now);
  outstanding_ = outstanding_ > bytes ? outstanding_ - bytes : 0;
  acked_total_ += bytes;
  // Does this ack follow the previous one by this chunk's time on a saturated link?
  // Otherwise acks are spaced by how fast chunks were offered, or by the round
  // trip, and a lightly used link would look slow.
  const bool remote = received_us > 0;
  const Ack ack{remote, remote ? static_cast<double>(received_us) / 1e6 : Seconds(now), Seconds(written)};
  bool queued = false;
  if (remote) {
    // This chunk was written before the previous one had arrived: the previous one
    // waited in a queue at least as long as the gap between their writes. Its wait
    // is its one-way delay above the least seen (the clocks' offset cancels out).
    min_delay_ = std::min(min_delay_, ack.delay());
    queued = previous_.remote && ack.sent - previous_.sent <= previous_.delay() - min_delay_;
  } else {
    // Without the receiver's clock: a standing queue of two or more chunks was
    // waiting at the previous ack.
    queued = backlogged_;
  }
  backlogged_ = outstanding_ >= 2 * bytes;
  const double gap = ack.at - previous_.at;
  const bool same_clock = remote == previous_.remote && gap >= 0;
  previous_ = ack;
  const double min_sample = std::chrono::duration<double>(min_sample_).count();
  if (!queued || !same_clock) {
    burst_bytes_ = 0;  // the next ack may start a run
    if (sample_busy_ >= min_sample) TakeSample(now);
    return;
  }
  // At the start of a run, acks that came at once with the first one are what a
  // token bucket let through after idle time, or a lump of segments the kernel
  // handed over together: they say nothing of the rate (up to kBurstBytes).
  const double at_once = estimate_ > 0 ? 0.1 * static_cast<double>(bytes) / estimate_ : kAtOnceSeconds;
  if (burst_bytes_ >= 0 && burst_bytes_ + bytes <= kBurstBytes && gap < at_once) {
    burst_bytes_ += bytes;
    return;
  }
  burst_bytes_ = -1;  // in the run: every ack counts
  // A sample ends where a lump does, not inside one (its last acks would carry the
  // lump's time without all of its bytes), unless it is twice as long as asked:
  // after a rise of the rate, every gap may look like one inside a lump.
  if (sample_busy_ >= min_sample && (gap >= at_once || sample_busy_ >= 2 * min_sample)) TakeSample(now);
  // What a sample gathered before the link last went idle for long may be of
  // another rate: start it afresh.
  if (Seconds(now) - sample_touched_ > kStaleSampleSeconds) {
    sample_bytes_ = 0;
    sample_busy_ = 0;
  }
  sample_touched_ = Seconds(now);
  sample_bytes_ += bytes;
  sample_busy_ += gap;
  if (outstanding_ == 0 && sample_busy_ >= min_sample) TakeSample(now);  // nothing more comes
}

void LinkMeter::TakeSample(Clock::time_point now) {
  const double rate = static_cast<double>(sample_bytes_) / sample_busy_;
  sample_busy_ = 0;
  sample_bytes_ = 0;
  // Two samples in a row off by more than kShift on the same side: the link's rate
  // has changed (a reroute, cross traffic, a new tc rate), and the estimate jumps
  // there instead of creeping by the smoothing (7 samples to within 10%): to their
  // mean when it rose, to the higher of them when it fell. A lone sample far below
  // is not taken: a lost segment stalls a TCP stream for a retransmission timeout
  // (200 ms or more), which only ever makes a sample slower than the link.
  const int side = estimate_ == 0 ? 0 : rate > estimate_ * (1 + kShift) ? 1 : rate < estimate_ * (1 - kShift) ? -1 : 0;
  // The first sample has no estimate to be checked against, and may have timed a
  // stall or TCP's slow start: a faster second one replaces it.
  if (estimate_ == 0 || (samples_ == 1 && side > 0)) {
    estimate_ = rate;
  } else if (side != 0 && side == shifted_side_) {
    estimate_ = side > 0 ? (rate + shifted_rate_) / 2 : std::max(rate, shifted_rate_);
    shifted_side_ = 0;
  } else {
    shifted_side_ = side;
    shifted_rate_ = rate;
    if (side < 0) return;  // not yet: the estimate neither moves nor gets younger
    estimate_ = smoothing_ * rate + (1 - smoothing_) * estimate_;
  }
  sampled_at_ = now;
  probed_ = false;
  ++samples_;
}

void LinkMeter::OnLost(int64_t bytes, Clock::time_point now) {
  OnWithdrawn(bytes, now);
  std::lock_guard<std::mutex> lock(mu_);
  backlogged_ = false;
  burst_bytes_ = 0;
  // The next stream may reach another process, with its own clock.
  previous_ = {};
  min_delay_ = std::numeric_limits<double>::infinity();
}

void LinkMeter::OnWithdrawn(int64_t bytes, Clock::time_point now) {
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

int64_t LinkMeter::NextProbeBytes() {
  std::lock_guard<std::mutex> lock(mu_);
  if (probed_ && outstanding_ > 0) return 0;  // the last probe is still under way
  fruitless_probes_ = probed_ ? std::min(fruitless_probes_ + 1, 8) : 0;
  probed_ = true;
  const double sample = 1.2 * std::chrono::duration<double>(min_sample_).count();
  const double bytes = estimate_ == 0 ? kUnmeasuredProbeBytes : kBurstBytes + 4 * estimate_ * sample;
  return std::min(kMaxProbeBytes, static_cast<int64_t>(bytes * (1 << fruitless_probes_)));
}

bool LinkMeter::probe_pending() const {
  std::lock_guard<std::mutex> lock(mu_);
  return probed_;
}

}  // namespace geostorm::sidecar
