// RolloutClient: a gateway's session with the policy controller. It subscribes
// over a ControlLink, hands the committed policies of the first Current to the
// caller (to build the engine from), then turns every PolicyUpdate into
// RolloutGate calls and acknowledges each Prepare with the gate's answer.
// Updates that arrive before Attach() are kept and applied there, in order.
//
//   absl::StatusOr<std::unique_ptr<RolloutClient>> c = RolloutClient::Connect(options, creds);
//   std::vector<core::Activation> committed = (*c)->initial();   // oldest first
//   ... build the engine and its gate ...
//   (*c)->Attach(&gate, {progress, probe, released});
//
// Thread-safe.
#ifndef GEOSTORM_SIDECAR_ROLLOUT_CLIENT_H_
#define GEOSTORM_SIDECAR_ROLLOUT_CLIENT_H_

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "core/policy/policy.h"
#include "geostorm/v1/control.pb.h"
#include "sidecar/rollout_gate.h"

namespace grpc {
class ChannelCredentials;
}  // namespace grpc

namespace geostorm::sidecar {

class ControlLink;

class RolloutClient {
 public:
  struct Options {
    std::string controller;  // host:port
    std::string job;
    std::string data_center;
    std::chrono::milliseconds first_policy_timeout{30000};
    bool ignore_prepare = false;  // fault injection: never acknowledge a Prepare
  };
  struct Hooks {
    std::function<v1::Progress()> progress;                      // sampled for reports
    std::function<void(const std::vector<std::string>&)> probe;  // send probes to these peers
    std::function<void()> released;                              // the gate may have released chunks
    std::function<void(int)> schedule;                           // esync: the DC's local steps
  };

  // Dials the controller and waits for its first Current. kUnavailable when none
  // came in time; kInvalidArgument when it held no usable committed policy.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<RolloutClient>> Connect(
      Options options, const std::shared_ptr<grpc::ChannelCredentials>& credentials);
  ~RolloutClient();

  // The committed policies of the first Current, oldest first (never empty).
  const std::vector<core::Activation>& initial() const { return initial_; }

  void Attach(RolloutGate* gate, Hooks hooks);
  // Sends a progress report now (an iteration started, say).
  void Report(v1::Progress progress);

 private:
  explicit RolloutClient(Options options);
  void OnUpdate(const v1::PolicyUpdate& u);
  void Apply(const v1::PolicyUpdate& u);

  const Options options_;
  std::vector<core::Activation> initial_;
  std::unique_ptr<ControlLink> link_;
  std::mutex mu_;
  std::condition_variable changed_;
  std::vector<v1::PolicyUpdate> early_;  // before Attach
  RolloutGate* gate_ = nullptr;          // set once by Attach
  Hooks hooks_;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_ROLLOUT_CLIENT_H_
