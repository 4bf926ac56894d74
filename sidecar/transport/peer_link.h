// PeerLink: the sending side of one peer link. Chunks wait in a queue bounded in
// bytes, counting those sent but not yet acknowledged (callers block while it is
// full: backpressure). A writer thread streams them on a long-lived gRPC Exchange
// stream, and a reader takes the peer's acknowledgements to feed the passive
// LinkMeter. A broken stream is redialled with backoff, and the chunks it had not
// acknowledged are sent again (the receiver refuses duplicates).
// Probe filler (CHUNK_PROBE) keeps a smaller window, of two round trips, so the
// traffic behind it waits little; what is left of a probe once the meter has its
// sample is dropped.
// Thread-safe.
#ifndef GEOSTORM_SIDECAR_TRANSPORT_PEER_LINK_H_
#define GEOSTORM_SIDECAR_TRANSPORT_PEER_LINK_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include <grpcpp/grpcpp.h>

#include "sidecar/transport/link_meter.h"
#include "wire/framed.h"

namespace geostorm::sidecar {

using wire::WireChunk;

// Channel settings for sidecar-to-sidecar links: no message size limit, and
// quick redials. With `identity`, a TLS peer's certificate must carry that name
// (control::DataCenterIdentity) rather than the host of the address dialled.
grpc::ChannelArguments PeerChannelArguments(const std::string& identity = "");

class PeerLink {
 public:
  PeerLink(std::string peer, std::string address, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
           int64_t max_queue_bytes, int64_t min_window_bytes, const std::string& identity = "");
  ~PeerLink();

  // Queues a chunk. Blocks while the queue is full, up to `timeout`; returns false
  // (and drops the chunk) when it could not be queued in time.
  // Waiting chunks leave lowest `priority` first (ties in arrival order); a chunk
  // already on the wire is never overtaken.
  bool Send(WireChunk chunk, std::chrono::milliseconds timeout, double priority = 0);

  const std::string& peer() const { return peer_; }
  const LinkMeter& meter() const { return meter_; }
  LinkMeter& meter() { return meter_; }
  int64_t queued_bytes() const;

 private:
  void Run();
  bool Stream();  // one connection until it breaks; false when stopping

  const std::string peer_;
  const std::string address_;
  const int64_t max_queue_bytes_;
  // Bytes written to the stream and not yet acknowledged: at least this, and about
  // 40 ms of the measured rate. Anything more would wait in socket buffers, where
  // the priority order no longer applies.
  const int64_t min_window_bytes_;
  std::shared_ptr<grpc::Channel> channel_;
  LinkMeter meter_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::pair<double, WireChunk>> queue_;  // (priority, chunk), sorted
  int64_t queued_bytes_ = 0;
  grpc::ClientContext* context_ = nullptr;  // the live stream's, for cancelling
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_TRANSPORT_PEER_LINK_H_
