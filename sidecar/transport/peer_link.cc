#include "sidecar/transport/peer_link.h"

#include <algorithm>

#include "wire/services.h"

namespace geostorm::sidecar {
namespace {

// A link's window of unacknowledged bytes, in seconds of its measured rate.
constexpr double kWindowSeconds = 0.04;

}  // namespace

grpc::ChannelArguments PeerChannelArguments(const std::string& identity) {
  grpc::ChannelArguments args;
  if (!identity.empty()) args.SetSslTargetNameOverride(identity);
  args.SetMaxReceiveMessageSize(wire::kMaxMessageBytes);
  args.SetMaxSendMessageSize(-1);
  // A restarted peer must be redialled within a fraction of an iteration timeout,
  // not after gRPC's default backoff of up to two minutes.
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 500);
  return args;
}

PeerLink::PeerLink(std::string peer, std::string address, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                   int64_t max_queue_bytes, int64_t min_window_bytes, const std::string& identity)
    : peer_(std::move(peer)),
      address_(std::move(address)),
      max_queue_bytes_(max_queue_bytes),
      min_window_bytes_(min_window_bytes) {
  channel_ = grpc::CreateCustomChannel(address_, credentials, PeerChannelArguments(identity));
  thread_ = std::thread([this] { Run(); });
}

PeerLink::~PeerLink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (context_) context_->TryCancel();  // also ends a call still waiting for the peer
  }
  changed_.notify_all();
  thread_.join();
}

bool PeerLink::Send(WireChunk chunk, std::chrono::milliseconds timeout, double priority) {
  const int64_t bytes = chunk.bytes();
  std::unique_lock<std::mutex> lock(mu_);
  // A chunk larger than the whole bound still goes once the queue is empty.
  const bool room = changed_.wait_for(
      lock, timeout, [&] { return stopping_ || queued_bytes_ == 0 || queued_bytes_ + bytes <= max_queue_bytes_; });
  if (!room || stopping_) return false;
  queued_bytes_ += bytes;
  auto at = std::upper_bound(queue_.begin(), queue_.end(), priority,
                             [](double p, const auto& queued) { return p < queued.first; });
  queue_.emplace(at, priority, std::move(chunk));
  lock.unlock();
  meter_.OnSend(bytes);
  changed_.notify_all();
  return true;
}

int64_t PeerLink::queued_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_bytes_;
}

void PeerLink::Run() {
  auto backoff = std::chrono::milliseconds(50);
  while (Stream()) {
    std::unique_lock<std::mutex> lock(mu_);
    if (changed_.wait_for(lock, backoff, [&] { return stopping_; })) return;
    backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
  }
}

bool PeerLink::Stream() {
  wire::DataPlaneStub stub(channel_);
  grpc::ClientContext context;
  context.set_wait_for_ready(true);  // a peer that is not up yet is waited for, not failed
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return false;
    context_ = &context;
  }
  std::unique_ptr<wire::ExchangeStream> stream = stub.Exchange(&context);
  // Chunks written on this stream and not yet acknowledged, in order. They count
  // against the queue bound until acknowledged, and go out again on the next
  // stream if this one breaks (the receiver drops duplicates). With when each was
  // written, for the meter.
  std::deque<std::pair<std::shared_ptr<WireChunk>, LinkMeter::Clock::time_point>> in_flight;
  int64_t in_flight_bytes = 0;
  bool broken = false;
  double min_rtt = 0;  // seconds from a write to its ack, the least seen on this stream (0: none yet)
  std::thread acks([&] {
    v1::Ack ack;
    while (stream->Read(&ack)) {
      int64_t bytes = 0;
      LinkMeter::Clock::time_point written;
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (!in_flight.empty()) {
          bytes = in_flight.front().first->bytes();
          written = in_flight.front().second;
          const double rtt = std::chrono::duration<double>(LinkMeter::Clock::now() - written).count();
          min_rtt = min_rtt > 0 ? std::min(min_rtt, rtt) : rtt;
          in_flight.pop_front();
          queued_bytes_ -= bytes;
          in_flight_bytes -= bytes;
        }
      }
      changed_.notify_all();
      meter_.OnAck(bytes, LinkMeter::Clock::now(), written, ack.received_us());
    }
    std::lock_guard<std::mutex> lock(mu_);
    broken = true;
    changed_.notify_all();
  });
  for (;;) {
    std::unique_lock<std::mutex> lock(mu_);
    // Chunks wait here, in priority order, rather than in gRPC's and the kernel's
    // buffers, where a later, more urgent chunk could not overtake them. The window
    // is about kWindowSeconds of the measured rate, so fast links stay full.
    const double rate = meter_.bytes_per_second();
    const int64_t window = std::max(min_window_bytes_, static_cast<int64_t>(rate * kWindowSeconds));
    // Probe filler goes out only when nothing else waits, and keeps no more in
    // flight than fills the link (two round trips of it, at least two chunks):
    // traffic that comes after it waits behind no more than that.
    const auto room = [&] {
      const WireChunk& next = queue_.front().second;
      if (next.header.kind() != v1::CHUNK_PROBE || min_rtt == 0 || rate == 0) return window;
      return std::max(2 * next.bytes(), static_cast<int64_t>(2 * min_rtt * rate));
    };
    changed_.wait(lock, [&] {
      return stopping_ || broken || (!queue_.empty() && (in_flight.empty() || in_flight_bytes < room()));
    });
    if (stopping_ || broken) break;
    auto chunk = std::make_shared<WireChunk>(std::move(queue_.front().second));
    queue_.pop_front();
    if (chunk->header.kind() == v1::CHUNK_PROBE && !meter_.probe_pending()) {
      // The meter has its sample: the rest of the probe would only take the link.
      queued_bytes_ -= chunk->bytes();
      lock.unlock();
      meter_.OnWithdrawn(chunk->bytes());
      changed_.notify_all();
      continue;
    }
    in_flight.emplace_back(chunk, LinkMeter::Clock::now());
    in_flight_bytes += chunk->bytes();
    lock.unlock();
    if (!stream->Write(*chunk)) break;
  }
  context.TryCancel();
  acks.join();
  std::lock_guard<std::mutex> lock(mu_);
  context_ = nullptr;
  int64_t resent = 0;
  for (auto it = in_flight.rbegin(); it != in_flight.rend(); ++it) {
    resent += it->first->bytes();
    queue_.emplace_front(-1.0, std::move(*it->first));  // they were sent before anything waiting
  }
  // Their first trip ended unacknowledged: stop counting them as busy.
  meter_.OnLost(resent);
  meter_.OnSend(resent);
  return !stopping_;
}

}  // namespace geostorm::sidecar
