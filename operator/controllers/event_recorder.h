// Posts core/v1 Events about host-cluster objects, for what a user should see in
// `kubectl describe` / `kubectl get events`. Best effort: a failure is logged, never
// returned. Callers record transitions, not every reconcile. Thread-safe.
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_EVENT_RECORDER_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_EVENT_RECORDER_H_

#include <string>

#include "operator/kube/client.h"

namespace geostorm::controllers {

class EventRecorder {
 public:
  explicit EventRecorder(kube::Client& host) : host_(host) {}
  // `type` is "Normal" or "Warning".
  void Record(const kube::Json& object, const std::string& type, const std::string& reason, const std::string& message);

 private:
  kube::Client& host_;
};

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_EVENT_RECORDER_H_
