// MemberLink: a member sidecar's long-lived Join stream to its DC's gateway. Its
// worker's LOCAL chunks go up, the RESULT chunks come back to `on_result`. Chunks
// wait in a queue bounded in bytes (callers block while it is full: backpressure,
// as PeerLink). A broken stream is redialled; the chunk that could not be written
// is sent first on the next one.
//
//   MemberLink up("10.0.0.1:7070", credentials, 64 << 20, [&](const WireChunk& c) { ... });
//   if (!up.Send(chunk, std::chrono::seconds(10))) ...;  // not queued in time
//
// Thread-safe; `on_result` runs on the link's reader thread.
#ifndef GEOSTORM_SIDECAR_TRANSPORT_MEMBER_LINK_H_
#define GEOSTORM_SIDECAR_TRANSPORT_MEMBER_LINK_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "wire/framed.h"

namespace geostorm::sidecar {

class MemberLink {
 public:
  MemberLink(const std::string& gateway, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
             int64_t max_queue_bytes, std::function<void(const wire::WireChunk&)> on_result,
             const std::string& identity = "");  // as for PeerLink
  ~MemberLink();

  // Queues a chunk for the gateway. Blocks while the queue is full, up to
  // `timeout`; returns false (and drops the chunk) when it could not be queued.
  bool Send(wire::WireChunk chunk, std::chrono::milliseconds timeout);

  int64_t queued_bytes() const;

 private:
  void Run();
  void Stream();  // one Join stream, until it breaks or the link stops

  std::shared_ptr<grpc::Channel> channel_;
  const int64_t max_queue_bytes_;
  const std::function<void(const wire::WireChunk&)> on_result_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<wire::WireChunk> queue_;
  int64_t queued_bytes_ = 0;                // of the chunks in queue_ and the one being written
  grpc::ClientContext* context_ = nullptr;  // the live stream's, for cancelling
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_TRANSPORT_MEMBER_LINK_H_
