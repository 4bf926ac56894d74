// A watch response body into WatchEvents, as its bytes arrive: one JSON event per
// line, cut wherever the transport cut it. An ERROR event ends the stream with the
// server's status (410 Gone: OutOfRange, for a relist). A line that is not a watch
// event, or one longer than the limit, ends it with DataLoss, naming the stream.
// Thread-compatible.
//
//   WatchStream stream("watch pods", [](const WatchEvent& e) { ...; return true; });
//   while (stream.wants_more() && status.ok()) status = stream.Feed(next_bytes);
#ifndef GEOSTORM_OPERATOR_KUBE_WATCH_STREAM_H_
#define GEOSTORM_OPERATOR_KUBE_WATCH_STREAM_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "operator/kube/client.h"

namespace geostorm::kube {

// The API server stores objects of at most 1.5 MiB (etcd's request limit); an
// event line this long is not one the operator will ever need.
inline constexpr size_t kMaxWatchEventBytes = 8 << 20;

class WatchStream {
 public:
  using OnEvent = std::function<bool(const WatchEvent&)>;  // false: stop the watch

  WatchStream(std::string what, OnEvent on_event, size_t max_event_bytes = kMaxWatchEventBytes)
      : what_(std::move(what)), on_event_(std::move(on_event)), max_event_bytes_(max_event_bytes) {}

  // Delivers every whole line in `bytes` (with what came before). Once it has
  // returned an error, or on_event has returned false, it delivers nothing more
  // (and returns the same error).
  [[nodiscard]] absl::Status Feed(std::string_view bytes);
  bool wants_more() const { return wants_more_; }

 private:
  absl::Status Deliver(const std::string& line);

  const std::string what_;
  const OnEvent on_event_;
  const size_t max_event_bytes_;
  std::string pending_;  // a line not yet ended
  bool wants_more_ = true;
  absl::Status ended_;  // why the stream ended, once it has
};

}  // namespace geostorm::kube

#endif  // GEOSTORM_OPERATOR_KUBE_WATCH_STREAM_H_
