// The GeoTrainingJob reconciler. Level-triggered and idempotent: it reads the job
// (from the host informer) and every member cluster (from their informers),
// computes what each data center should have (desired_state.h), writes only what
// differs (by fingerprint), and writes status only when it changed.
//
// Lifecycle: a finalizer is added first, and on deletion every member cluster is
// cleaned by label before it is removed. An invalid spec (one the schema let
// through, or naming an unknown/unready GeoCluster) gets InvalidSpec and Failed with
// the field in the message, and nothing is created anywhere. runPolicy: suspend
// deletes the workers and keeps the rest; backoffLimit bounds recreated failed pods;
// activeDeadlineSeconds fails the job; cleanPodPolicy picks which pods go when it
// finishes; ttlSecondsAfterFinished deletes it. Thread-safe: one key at a time per
// key (the work queue sees to that).
#ifndef GEOSTORM_OPERATOR_CONTROLLERS_JOB_CONTROLLER_H_
#define GEOSTORM_OPERATOR_CONTROLLERS_JOB_CONTROLLER_H_

#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "core/policy/policy.h"
#include "operator/api/job_spec.h"
#include "operator/controllers/certificate_store.h"
#include "operator/controllers/cluster_registry.h"
#include "operator/controllers/event_recorder.h"
#include "operator/controllers/policy_runner.h"
#include "operator/kube/informer.h"

namespace geostorm::controllers {

inline constexpr char kFinalizer[] = "geostorm.io/cleanup";

struct JobControllerOptions {
  // Each job's live policy controller; without it, gateways read the first plan
  // from a ConfigMap and keep it.
  PolicyRunners* policy_runners = nullptr;
  std::chrono::milliseconds wait_retry{2000};      // while load balancers get addresses
  std::chrono::milliseconds cluster_retry{15000};  // after an unknown or unready GeoCluster
};

class JobController {
 public:
  JobController(kube::Client& host, kube::Informer& jobs, const ClusterRegistry& clusters, EventRecorder& events,
                JobControllerOptions options);

  // Reconciles job `key` ("ns/name"). The optional duration asks to be called
  // again after it (deadlines, TTLs, waiting on addresses); errors are retried with
  // backoff by the caller.
  [[nodiscard]] absl::StatusOr<std::optional<std::chrono::milliseconds>> Reconcile(const std::string& key);

 private:
  using Requeue = std::optional<std::chrono::milliseconds>;
  struct Pass;  // one reconcile's reads and the status it builds

  absl::StatusOr<Requeue> Finalize(const kube::Json& job);
  absl::StatusOr<Requeue> AfterFinish(Pass& p);  // cleanPodPolicy, then the TTL
  absl::StatusOr<Requeue> Suspend(Pass& p);
  absl::StatusOr<Requeue> Finish(Pass& p, bool succeeded, const std::string& reason, const std::string& message);
  // Namespaces, Services, certificates and (given `policy_json`) policy ConfigMaps in
  // every DC; returns the gateways' addresses known so far.
  absl::StatusOr<std::map<std::string, std::string>> Provision(Pass& p, const std::string& policy_json,
                                                               const std::map<std::string, KeyPair>& certificates);
  // Worker pods: create, replace, recreate failed ones (backoffLimit); phase and counts.
  absl::StatusOr<Requeue> SyncWorkers(Pass& p, const std::map<std::string, std::string>& addresses);
  // ClustersReady False with `message`, written; the phase and every member's objects
  // are left as they are. Then a retry after cluster_retry.
  absl::StatusOr<Requeue> ClustersNotReady(const kube::Json& job, const std::string& message);
  // InvalidSpec and Failed with `message`, written; then `then`.
  absl::StatusOr<Requeue> Invalid(const kube::Json& job, const std::string& message, Requeue then = Requeue());
  // True the first time `what` is said about this job.
  bool Once(const kube::Json& job, const std::string& what);
  // True when the job's clusters stop being usable (`ready` false) or become usable
  // again: news for the log and an event, once however many passes see it.
  bool ClustersReadyChanged(const kube::Json& job, bool ready);
  // Applies `desired` unless the cache holds it already, or holds still what it held
  // when this same object was written moments ago; true when it wrote.
  absl::StatusOr<bool> ApplyIfChanged(const MemberCluster& member, const kube::Resource& r, const kube::Json& desired);
  // The job's policy: the newest TopologyPolicy if it was planned for this spec,
  // else the next version, planned and recorded.
  absl::StatusOr<core::Policy> PolicyFor(const kube::Json& job, const api::JobSpec& spec);
  absl::Status DeletePods(const std::vector<std::shared_ptr<const MemberCluster>>& members, const kube::Json& job,
                          const std::function<bool(const kube::Json& pod)>& which);
  absl::Status WriteStatus(const kube::Json& job, kube::Json status);

  kube::Client& host_;
  kube::Informer& jobs_;
  const ClusterRegistry& clusters_;
  EventRecorder& events_;
  const JobControllerOptions options_;
  CertificateStore certificates_;
  std::mutex cache_mu_;                                                   // the policies by job uid save reads per pass
  std::map<std::string, std::pair<std::string, core::Policy>> policies_;  // (plan fingerprint, policy)
  // What was logged and posted about each job (by uid): the next reconcile may come
  // before the informer holds the status that records it.
  std::map<std::string, std::set<std::string>> said_;
  // The last write of each member object: what the informer held before it (its
  // resourceVersion, "" if absent), the fingerprint written, and when. A pass that
  // comes before the informer has seen the write must not write it again.
  struct Written {
    std::string version_before;
    std::string fingerprint;
    std::chrono::steady_clock::time_point at;
  };
  std::map<std::string, Written> written_;
};

}  // namespace geostorm::controllers

#endif  // GEOSTORM_OPERATOR_CONTROLLERS_JOB_CONTROLLER_H_
