// ControlLink: a gateway's connection to the policy controller (control.proto).
// It keeps two long-lived streams, each redialled with backoff when it breaks:
//   - Subscribe: every update goes to `on_update`, in order, on this link's thread;
//     each new stream starts with Current;
//   - Report: what Report() is given goes up at once; besides, `progress()` is
//     sampled and sent every `period` (iteration, link estimates).
// Thread-safe.
#ifndef GEOSTORM_SIDECAR_CONTROL_LINK_H_
#define GEOSTORM_SIDECAR_CONTROL_LINK_H_

#include <chrono>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "geostorm/v1/control.pb.h"

namespace grpc {
class Channel;
class ChannelCredentials;
class ClientContext;
}  // namespace grpc

namespace geostorm::sidecar {

class ControlLink {
 public:
  struct Callbacks {
    std::function<v1::Hello()> hello;
    std::function<void(const v1::PolicyUpdate&)> on_update;
    std::function<v1::Progress()> progress;
  };

  ControlLink(const std::string& address, const std::shared_ptr<grpc::ChannelCredentials>& credentials,
              Callbacks callbacks, std::chrono::milliseconds period = std::chrono::milliseconds(1000));
  ~ControlLink();

  void Report(v1::Progress progress);

 private:
  void SubscribeLoop();
  void ReportLoop();
  bool Backoff(int attempt);  // false when stopping
  // Makes `context` the stream's live context (cancelled on destruction), or
  // clears it; false when stopping.
  bool Track(grpc::ClientContext** slot, grpc::ClientContext* context);

  std::shared_ptr<grpc::Channel> channel_;
  const Callbacks callbacks_;
  const std::chrono::milliseconds period_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<v1::Progress> queue_;
  grpc::ClientContext* subscribe_context_ = nullptr;
  grpc::ClientContext* report_context_ = nullptr;
  bool stopping_ = false;
  std::thread subscriber_, reporter_;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_CONTROL_LINK_H_
