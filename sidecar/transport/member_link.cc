#include "sidecar/transport/member_link.h"

#include "sidecar/transport/peer_link.h"
#include "wire/services.h"

namespace geostorm::sidecar {

MemberLink::MemberLink(const std::string& gateway, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
                       int64_t max_queue_bytes, std::function<void(const wire::WireChunk&)> on_result,
                       const std::string& identity)
    : channel_(grpc::CreateCustomChannel(gateway, credentials, PeerChannelArguments(identity))),
      max_queue_bytes_(max_queue_bytes),
      on_result_(std::move(on_result)) {
  thread_ = std::thread([this] { Run(); });
}

MemberLink::~MemberLink() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
    if (context_) context_->TryCancel();
  }
  changed_.notify_all();
  thread_.join();
}

bool MemberLink::Send(wire::WireChunk chunk, std::chrono::milliseconds timeout) {
  const int64_t bytes = chunk.bytes();
  std::unique_lock<std::mutex> lock(mu_);
  const bool room = changed_.wait_for(
      lock, timeout, [&] { return stopping_ || queued_bytes_ == 0 || queued_bytes_ + bytes <= max_queue_bytes_; });
  if (!room || stopping_) return false;
  queued_bytes_ += bytes;
  queue_.push_back(std::move(chunk));
  changed_.notify_all();
  return true;
}

int64_t MemberLink::queued_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return queued_bytes_;
}

void MemberLink::Run() {
  for (;;) {
    Stream();
    std::unique_lock<std::mutex> lock(mu_);
    if (changed_.wait_for(lock, std::chrono::milliseconds(200), [&] { return stopping_; })) return;
  }
}

void MemberLink::Stream() {
  wire::DataPlaneStub stub(channel_);
  grpc::ClientContext context;
  context.set_wait_for_ready(true);  // the gateway may not be up yet
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    context_ = &context;
  }
  std::unique_ptr<wire::JoinStream> stream = stub.Join(&context);
  std::thread reader([&] {
    wire::WireChunk chunk;
    while (stream->Read(&chunk)) on_result_(chunk);
  });
  for (;;) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) break;
    wire::WireChunk chunk = std::move(queue_.front());
    queue_.pop_front();
    lock.unlock();
    const int64_t bytes = chunk.bytes();
    const bool written = stream->Write(chunk);
    lock.lock();
    if (!written) {  // never left: first on the next stream
      queue_.push_front(std::move(chunk));
      break;
    }
    queued_bytes_ -= bytes;
    changed_.notify_all();
  }
  context.TryCancel();
  reader.join();
  std::lock_guard<std::mutex> lock(mu_);
  context_ = nullptr;
}

}  // namespace geostorm::sidecar
