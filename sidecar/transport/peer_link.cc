#include "sidecar/transport/peer_link.h"

#include "geostorm/v1/dataplane.grpc.pb.h"

namespace geostorm::sidecar {

PeerLink::PeerLink(std::string peer, std::string address, std::shared_ptr<grpc::ChannelCredentials> credentials,
                   int64_t max_queue_bytes)
    : peer_(std::move(peer)), address_(std::move(address)), max_queue_bytes_(max_queue_bytes) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(-1);
  args.SetMaxSendMessageSize(-1);
  channel_ = grpc::CreateCustomChannel(address_, credentials, args);
  thread_ = std::thread([this] { Run(); });
}

PeerLink::~PeerLink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  changed_.notify_all();
  thread_.join();
}

bool PeerLink::Send(v1::Chunk chunk, std::chrono::milliseconds timeout) {
  const int64_t bytes = static_cast<int64_t>(chunk.payload().size());
  std::unique_lock<std::mutex> lock(mu_);
  // A chunk larger than the whole bound still goes once the queue is empty.
  const bool room = changed_.wait_for(lock, timeout, [&] {
    return stopping_ || queued_bytes_ == 0 || queued_bytes_ + bytes <= max_queue_bytes_;
  });
  if (!room || stopping_) return false;
  queued_bytes_ += bytes;
  queue_.push_back(std::move(chunk));
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
  v1::DataPlane::Stub stub(channel_);
  grpc::ClientContext context;
  context.set_wait_for_ready(true);  // a peer that is not up yet is waited for, not failed
  std::unique_ptr<grpc::ClientReaderWriter<v1::Chunk, v1::Ack>> stream = stub.Exchange(&context);
  std::mutex sizes_mu;
  std::deque<int64_t> in_flight;  // payload sizes of chunks written, not yet acknowledged
  std::thread acks([&] {
    v1::Ack ack;
    while (stream->Read(&ack)) {
      int64_t bytes = 0;
      {
        std::lock_guard<std::mutex> lock(sizes_mu);
        if (!in_flight.empty()) {
          bytes = in_flight.front();
          in_flight.pop_front();
        }
      }
      if (!ack.accepted()) ++refused_;
      meter_.OnAck(bytes);
    }
  });
  for (;;) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    v1::Chunk chunk = std::move(queue_.front());
    queue_.pop_front();
    const int64_t bytes = static_cast<int64_t>(chunk.payload().size());
    lock.unlock();
    {
      std::lock_guard<std::mutex> sizes(sizes_mu);
      in_flight.push_back(bytes);
    }
    if (!stream->Write(chunk)) {
      // The stream is broken: this chunk never left, so it goes first on the next.
      std::lock_guard<std::mutex> relock(mu_);
      queue_.push_front(std::move(chunk));
      std::lock_guard<std::mutex> sizes(sizes_mu);
      in_flight.pop_back();
      break;
    }
    lock.lock();
    queued_bytes_ -= bytes;
    lock.unlock();
    changed_.notify_all();
  }
  context.TryCancel();
  acks.join();
  // Whatever was in flight on this stream is gone: stop counting it as busy.
  int64_t lost = 0;
  for (int64_t b : in_flight) lost += b;
  meter_.OnLost(lost);
  std::lock_guard<std::mutex> lock(mu_);
  return !stopping_;
}

}  // namespace geostorm::sidecar
