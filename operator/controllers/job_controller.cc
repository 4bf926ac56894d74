#include "operator/controllers/job_controller.h"

#include <spdlog/spdlog.h>

#include <set>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "core/policy/policy_codec.h"
#include "core/status_macros.h"
#include "operator/api/conditions.h"
#include "operator/controllers/desired_state.h"
#include "operator/controllers/dry_run.h"
#include "operator/controllers/initial_policy.h"
#include "operator/controllers/topology_policy_store.h"

namespace geostorm::controllers {
namespace {

using kube::Json;
using Members = std::vector<std::shared_ptr<const MemberCluster>>;
using Requeue = std::optional<std::chrono::milliseconds>;

// How long a write is trusted over an informer that does not show it yet; past
// that, the informer's copy is taken as the truth (someone may have reverted it).
constexpr std::chrono::seconds kInformerLag{10};

JobRef RefOf(const Json& job) { return {job["metadata"].value("namespace", ""), job["metadata"].value("name", "")}; }

int64_t Generation(const Json& job) { return job["metadata"].value("generation", int64_t{1}); }

bool HasFinalizer(const Json& object) {
  for (const Json& f : object["metadata"].value("finalizers", Json::array())) {
    if (f == kFinalizer) return true;
  }
  return false;
}

std::string PodPhase(const Json& pod) { return pod.value("status", Json::object()).value("phase", "Pending"); }

bool Terminal(const std::string& phase) { return phase == "Succeeded" || phase == "Failed"; }

// A spec that parses and names only known clusters is no longer invalid: an earlier
// pass's InvalidSpec (a GeoCluster not yet known, a spec since fixed) and the Failed
// phase it set are withdrawn.
void WithdrawInvalidSpec(Json& status, int64_t generation, api::Clock::time_point now) {
  if (api::ConditionStatus(status["conditions"], "InvalidSpec") != "True") return;
  api::SetCondition(status["conditions"], "InvalidSpec", false, "Valid", "", generation, now);
  api::SetCondition(status["conditions"], "Failed", false, "Valid", "", generation, now);
  status.erase("phase");
}

std::chrono::milliseconds Until(api::Clock::time_point when) {
  return std::max(std::chrono::milliseconds(100),
                  std::chrono::duration_cast<std::chrono::milliseconds>(when - api::Clock::now()));
}

}  // namespace

JobController::JobController(kube::Client& host, kube::Informer& jobs, const ClusterRegistry& clusters,
                             EventRecorder& events, JobControllerOptions options)
    : host_(host),
      jobs_(jobs),
      clusters_(clusters),
      events_(events),
      options_(options),
      certificates_(host, options.policy_runners ? options.policy_runners->advertise_host() : "") {}

absl::Status JobController::WriteStatus(const Json& job, Json status) {
  status["observedGeneration"] = Generation(job);
  // Why it is not simply running, for the REASON and MESSAGE columns.
  const auto [reason, message] = api::Why(status.value("conditions", Json::array()));
  status.erase("reason");
  status.erase("message");
  if (!reason.empty()) {
    status["reason"] = reason;
    status["message"] = message;
  }
  const Json current = job.value("status", Json::object());
  if (status == current) return absl::OkStatus();
  // A merge patch: keys the new status drops must be sent as null.
  for (const auto& [key, value] : current.items()) {
    if (!status.contains(key)) status[key] = nullptr;
  }
  // Only over the copy this pass read: a pass on a cache that lags a newer write
  // would replace its conditions and leave its other keys (such as a Failed phase)
  // standing. The server refuses such a write (409), and the job is looked at again.
  Json patch = {{"status", status}};
  const std::string version = job["metadata"].value("resourceVersion", "");
  if (!version.empty()) patch["metadata"]["resourceVersion"] = version;
  const JobRef ref = RefOf(job);
  return host_.MergePatch(kube::kGeoTrainingJobs, ref.ns, ref.name, patch, true).status();
}

bool JobController::Once(const Json& job, const std::string& what) {
  std::lock_guard<std::mutex> lock(cache_mu_);
  return said_[job["metadata"].value("uid", "")].insert(what).second;
}

bool JobController::ClustersReadyChanged(const Json& job, bool ready) {
  std::lock_guard<std::mutex> lock(cache_mu_);
  std::set<std::string>& said = said_[job["metadata"].value("uid", "")];
  return ready ? said.erase("clusters not ready") > 0 : said.insert("clusters not ready").second;
}

absl::StatusOr<Requeue> JobController::Invalid(const Json& job, const std::string& message, Requeue then) {
  Json status = job.value("status", Json::object());
  const bool new_message = Once(job, absl::StrCat("invalid ", Generation(job), " ", message));
  const auto now = api::Clock::now();
  api::SetCondition(status["conditions"], "InvalidSpec", true, "InvalidSpec", message, Generation(job), now);
  api::SetCondition(status["conditions"], "Failed", true, "InvalidSpec", message, Generation(job), now);
  status["phase"] = "Failed";
  if (new_message) {
    spdlog::warn("job {}/{}: invalid spec: {}", RefOf(job).ns, RefOf(job).name, message);
    events_.Record(job, "Warning", "InvalidSpec", message);
  }
  RETURN_IF_ERROR(WriteStatus(job, status));
  return then;
}

absl::StatusOr<Requeue> JobController::ClustersNotReady(const Json& job, const std::string& message) {
  Json status = job.value("status", Json::object());
  const auto now = api::Clock::now();
  api::SetCondition(status["conditions"], "ClustersReady", false, "ClusterNotReady", message, Generation(job), now);
  WithdrawInvalidSpec(status, Generation(job), now);
  if (ClustersReadyChanged(job, false)) {
    spdlog::warn("job {}/{}: {}", RefOf(job).ns, RefOf(job).name, message);
    events_.Record(job, "Warning", "ClusterNotReady", message);
  }
  RETURN_IF_ERROR(WriteStatus(job, status));
  return Requeue(options_.cluster_retry);
}

absl::StatusOr<bool> JobController::ApplyIfChanged(const MemberCluster& member, const kube::Resource& r,
                                                   const Json& desired) {
  const Json& meta = desired["metadata"];
  std::optional<Json> existing = member.informer(r).Get(meta.value("namespace", ""), meta.value("name", ""));
  const std::string fingerprint = Fingerprint(desired);
  if (existing && Fingerprint(*existing) == fingerprint) return false;
  const std::string version = existing ? (*existing)["metadata"].value("resourceVersion", "") : "";
  const std::string key =
      absl::StrCat(member.name, "/", r.plural, "/", meta.value("namespace", ""), "/", meta.value("name", ""));
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto last = written_.find(key);
    if (last != written_.end() && last->second.fingerprint == fingerprint && last->second.version_before == version &&
        now - last->second.at < kInformerLag) {
      return false;  // the informer has not caught up with that write yet
    }
  }
  RETURN_IF_ERROR(member.client->Apply(r, desired).status());
  std::lock_guard<std::mutex> lock(cache_mu_);
  for (auto it = written_.begin(); it != written_.end();) {
    it = now - it->second.at >= kInformerLag ? written_.erase(it) : std::next(it);
  }
  written_[key] = {version, fingerprint, now};
  return true;
}

absl::StatusOr<core::Policy> JobController::PolicyFor(const Json& job, const api::JobSpec& spec) {
  const std::string uid = job["metadata"].value("uid", "");
  const std::string fingerprint = PlanFingerprint(spec);
  {
    std::lock_guard<std::mutex> lock(cache_mu_);
    auto cached = policies_.find(uid);
    if (cached != policies_.end() && cached->second.first == fingerprint) return cached->second.second;
  }
  TopologyPolicyStore store(host_, RefOf(job), job, fingerprint);
  absl::StatusOr<control::RolloutState> state = store.Load();
  if (!state.ok() && !absl::IsNotFound(state.status())) return state.status();
  if (!state.ok()) state = control::RolloutState{};
  core::Policy policy;
  if (!state->committed.empty() && store.PlanFingerprintOf(state->committed.back().policy.version) == fingerprint) {
    policy = state->committed.back().policy;
  } else {
    absl::StatusOr<core::Policy> planned = PlanInitialPolicy(spec, state->next_version);
    if (!planned.ok()) return planned.status();
    policy = *std::move(planned);
    state->AddCommitted({policy, 0});
    state->next_version = policy.version + 1;
    RETURN_IF_ERROR(store.Save(*state));
    events_.Record(job, "Normal", "PolicyPlanned",
                   absl::StrCat("policy v", policy.version, ": ", policy.strategy, ", roots ",
                                absl::StrJoin(PolicyRoots(policy), ","), " (links not measured yet: uniform guess)"));
  }
  std::lock_guard<std::mutex> lock(cache_mu_);
  policies_[uid] = {fingerprint, policy};
  return policy;
}

absl::Status JobController::DeletePods(const Members& members, const Json& job,
                                       const std::function<bool(const Json& pod)>& which) {
  const JobRef ref = RefOf(job);
  for (const auto& member : members) {
    for (const auto& [name, pod] : member->JobPods(ref.ns, ref.name)) {
      if (!which(pod) || pod["metadata"].contains("deletionTimestamp")) continue;
      absl::Status deleted = member->client->Delete(kube::kPods, ref.ns, name);
      if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<Requeue> JobController::Finalize(const Json& job) {
  const JobRef ref = RefOf(job);
  if (!HasFinalizer(job)) return Requeue();
  bool remaining = false;
  for (const auto& member : clusters_.All()) {
    for (const kube::Resource* r : kManaged) {
      absl::StatusOr<kube::ListResult> listed = member->client->List(*r, ref.ns, JobSelector(ref));
      if (!listed.ok()) return listed.status();  // an unreachable member keeps the finalizer
      for (const Json& object : listed->items) {
        remaining = true;
        absl::Status deleted = member->client->Delete(*r, ref.ns, object["metadata"].value("name", ""));
        if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
      }
    }
  }
  if (remaining) return Requeue(std::chrono::milliseconds(500));  // confirm they are gone
  if (options_.policy_runners != nullptr) options_.policy_runners->Stop(job["metadata"].value("uid", ""));
  {
    certificates_.Forget(job["metadata"].value("uid", ""));
    std::lock_guard<std::mutex> lock(cache_mu_);
    said_.erase(job["metadata"].value("uid", ""));
    policies_.erase(job["metadata"].value("uid", ""));
  }
  bool removed = false;  // by this pass: a second one, on a stale cache, finds it gone
  absl::StatusOr<Json> updated = kube::Update(host_, kube::kGeoTrainingJobs, ref.ns, ref.name, [&](Json& j) {
    Json& finalizers = j["metadata"]["finalizers"];
    const size_t before = finalizers.size();
    finalizers.erase(std::remove(finalizers.begin(), finalizers.end(), Json(kFinalizer)), finalizers.end());
    removed = finalizers.size() != before;
    return removed;
  });
  if (!updated.ok() && !absl::IsNotFound(updated.status())) return updated.status();
  if (updated.ok() && removed) spdlog::info("job {}/{}: cleaned up in every member cluster", ref.ns, ref.name);
  return Requeue();
}

// One reconcile of one job: what it read, and the status it builds.
struct JobController::Pass {
  Json job;
  JobRef ref;
  api::JobSpec spec;
  Members members;  // per DC, in spec order
  Json status;
  std::string controller_address;  // the job's live policy controller, if it has one
  api::Clock::time_point now;
  int64_t generation = 0;

  // Sets a condition; true if its status flipped.
  bool Condition(const std::string& type, bool value, const std::string& reason, const std::string& message) {
    return api::SetCondition(status["conditions"], type, value, reason, message, generation, now);
  }
};

absl::StatusOr<Requeue> JobController::Reconcile(const std::string& key) {
  const size_t slash = key.find('/');
  std::optional<Json> cached = jobs_.Get(key.substr(0, slash), key.substr(slash + 1));
  if (!cached) return Requeue();  // gone: the finalizer already cleaned up
  Pass p;
  p.job = *cached;
  p.ref = RefOf(p.job);
  if (p.job["metadata"].contains("deletionTimestamp")) return Finalize(p.job);
  if (!HasFinalizer(p.job)) {
    absl::StatusOr<Json> updated = kube::Update(host_, kube::kGeoTrainingJobs, p.ref.ns, p.ref.name, [](Json& j) {
      if (HasFinalizer(j)) return false;
      j["metadata"]["finalizers"].push_back(kFinalizer);
      return true;
    });
    if (!updated.ok()) return updated.status();
    p.job = *updated;
  }

  absl::StatusOr<api::JobSpec> parsed = api::ParseJobSpec(p.ref.name, p.job["spec"]);
  if (!parsed.ok()) return Invalid(p.job, std::string(parsed.status().message()));
  p.spec = *std::move(parsed);
  for (size_t i = 0; i < p.spec.data_centers.size(); ++i) {
    absl::StatusOr<std::shared_ptr<const MemberCluster>> member = clusters_.Get(p.spec.data_centers[i].cluster);
    if (!member.ok()) {
      // Nothing is created or changed anywhere until every DC's cluster is usable.
      const std::string message = absl::StrCat("spec.dataCenters[", i, "].cluster: ", member.status().message());
      if (absl::IsFailedPrecondition(member.status())) return ClustersNotReady(p.job, message);
      return Invalid(p.job, message, options_.cluster_retry);
    }
    p.members.push_back(*member);
  }

  p.now = api::Clock::now();
  p.generation = Generation(p.job);
  p.status = p.job.value("status", Json::object());
  p.Condition("ClustersReady", true, "Connected", "");
  if (ClustersReadyChanged(p.job, true)) {
    spdlog::info("job {}/{}: every member cluster answers again", p.ref.ns, p.ref.name);
    events_.Record(p.job, "Normal", "ClustersReady", "every member cluster answers again");
  }
  WithdrawInvalidSpec(p.status, p.generation, p.now);
  const std::string phase = p.status.value("phase", "");
  if (phase == "Succeeded" || phase == "Failed") return AfterFinish(p);
  if (p.spec.suspend) return Suspend(p);
  if (api::ConditionStatus(p.status["conditions"], "Suspended") == "True") {
    p.Condition("Suspended", false, "Resumed", "");
    events_.Record(p.job, "Normal", "Resumed", "workers recreated");
  }
  if (!p.status.contains("startTime")) p.status["startTime"] = api::FormatTime(p.now);
  const auto started = api::ParseTime(p.status["startTime"].get<std::string>()).value_or(p.now);
  const api::Clock::time_point deadline = p.spec.active_deadline_s
                                              ? started + std::chrono::seconds(*p.spec.active_deadline_s)
                                              : api::Clock::time_point::max();
  if (p.now >= deadline) {
    return Finish(p, false, "DeadlineExceeded",
                  absl::StrCat("ran longer than activeDeadlineSeconds (", *p.spec.active_deadline_s, ")"));
  }

  absl::StatusOr<core::Policy> policy = PolicyFor(p.job, p.spec);
  if (absl::IsInvalidArgument(policy.status())) {  // the planner refused this spec: retrying will not help
    return Invalid(p.job, absl::StrCat("spec.sync: cannot plan: ", policy.status().message()));
  }
  if (!policy.ok()) return policy.status();
  p.status["policyVersion"] = policy->version;
  p.status["roots"] = PolicyRoots(*policy);
  absl::StatusOr<std::map<std::string, KeyPair>> certificates = certificates_.Ensure(p.job, p.spec);
  if (!certificates.ok()) return certificates.status();
  if (options_.policy_runners != nullptr) {
    absl::StatusOr<JobPolicyView> live =
        options_.policy_runners->Ensure(p.job, p.spec, *policy, *certificates, p.status.value("controlPort", 0));
    if (!live.ok()) return live.status();
    p.controller_address = live->address;
    p.status["controlPort"] = live->port;
    p.status["policyVersion"] = live->version;
    p.status["roots"] = live->roots;
    if (live->iteration > 0) p.status["iteration"] = live->iteration;
  }

  const std::string policy_json = p.controller_address.empty() ? core::ToJson(*policy) : "";
  if (api::ConditionStatus(p.status["conditions"], "Created") != "True") {
    absl::Status accepted = DryRunJob(p.ref, p.spec, p.members, *certificates, policy_json, p.controller_address);
    if (absl::IsInvalidArgument(accepted)) return Invalid(p.job, std::string(accepted.message()));
    RETURN_IF_ERROR(accepted);
  }
  absl::StatusOr<std::map<std::string, std::string>> addresses = Provision(p, policy_json, *certificates);
  if (!addresses.ok()) return addresses.status();
  if (addresses->size() < p.spec.data_centers.size()) {
    p.status["phase"] = "Pending";
    p.status["dataCentersReady"] = absl::StrCat(0, "/", p.spec.data_centers.size());
    RETURN_IF_ERROR(WriteStatus(p.job, p.status));
    return Requeue(options_.wait_retry);
  }
  absl::StatusOr<Requeue> next = SyncWorkers(p, *addresses);
  if (!next.ok() || next->has_value() || deadline == api::Clock::time_point::max()) return next;
  return Requeue(Until(deadline));  // to enforce activeDeadlineSeconds
}

absl::StatusOr<Requeue> JobController::AfterFinish(Pass& p) {
  if (p.spec.clean_pod_policy != "None") {
    const bool all = p.spec.clean_pod_policy == "All";
    absl::Status cleaned =
        DeletePods(p.members, p.job, [&](const Json& pod) { return all || !Terminal(PodPhase(pod)); });
    if (!cleaned.ok()) return cleaned;
  }
  if (!p.spec.ttl_after_finished_s) return Requeue();
  const auto done = api::ParseTime(p.status.value("completionTime", "")).value_or(p.now);
  const auto expiry = done + std::chrono::seconds(*p.spec.ttl_after_finished_s);
  if (p.now < expiry) return Requeue(Until(expiry));
  spdlog::info("job {}/{}: ttlSecondsAfterFinished passed; deleting it", p.ref.ns, p.ref.name);
  absl::Status deleted = host_.Delete(kube::kGeoTrainingJobs, p.ref.ns, p.ref.name);
  if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
  return Requeue();
}

absl::StatusOr<Requeue> JobController::Suspend(Pass& p) {
  // No workers; Services and certificates stay for the resume.
  RETURN_IF_ERROR(DeletePods(p.members, p.job, [](const Json&) { return true; }));
  if (p.Condition("Suspended", true, "Suspended", "runPolicy.suspend is true")) {
    events_.Record(p.job, "Normal", "Suspended", "workers deleted; Services and certificates kept");
  }
  p.Condition("Running", false, "Suspended", "");
  p.status["phase"] = "Suspended";
  p.status.erase("startTime");  // activeDeadlineSeconds counts from the resume
  RETURN_IF_ERROR(WriteStatus(p.job, p.status));
  return Requeue();
}

absl::StatusOr<Requeue> JobController::Finish(Pass& p, bool succeeded, const std::string& reason,
                                              const std::string& message) {
  p.status["phase"] = succeeded ? "Succeeded" : "Failed";
  p.status["completionTime"] = api::FormatTime(p.now);
  if (options_.policy_runners != nullptr) options_.policy_runners->Stop(p.job["metadata"].value("uid", ""));
  p.Condition(succeeded ? "Succeeded" : "Failed", true, reason, message);
  p.Condition("Running", false, reason, "");
  events_.Record(p.job, succeeded ? "Normal" : "Warning", reason, message);
  RETURN_IF_ERROR(WriteStatus(p.job, p.status));
  return Requeue(std::chrono::milliseconds(0));  // apply cleanPodPolicy and the TTL
}

absl::StatusOr<std::map<std::string, std::string>> JobController::Provision(
    Pass& p, const std::string& policy_json, const std::map<std::string, KeyPair>& certificates) {
  std::map<std::string, std::string> addresses;
  std::string waiting;
  for (size_t i = 0; i < p.spec.data_centers.size(); ++i) {
    const MemberCluster& member = *p.members[i];
    const std::string& dc = p.spec.data_centers[i].name;
    RETURN_IF_ERROR(member.EnsureNamespace(p.ref.ns));
    int written = 0;
    for (const auto& [r, desired] : DcObjects(p.ref, p.spec, dc, certificates, policy_json)) {
      ASSIGN_OR_RETURN(const bool changed, ApplyIfChanged(member, *r, desired));
      written += changed;
    }
    if (written > 0) {
      spdlog::info("job {}/{}: DC {}: {} Services, Secrets and ConfigMaps applied in cluster '{}'", p.ref.ns,
                   p.ref.name, dc, written, member.name.empty() ? "(host)" : member.name);
    }
    std::optional<Json> gateway = member.services->Get(p.ref.ns, GatewayServiceName(p.ref, dc));
    std::optional<std::string> address = gateway ? GatewayAddress(*gateway, p.spec.data_port) : std::nullopt;
    if (address) {
      addresses[dc] = *address;
    } else if (waiting.empty()) {
      waiting = absl::StrCat("waiting for an address of Service ", GatewayServiceName(p.ref, dc), " in cluster '",
                             member.name.empty() ? "(host)" : member.name, "'");
    }
  }
  if (p.Condition("Created", true, "Created", "Services and certificates in every data center") &&
      Once(p.job, "created")) {
    spdlog::info("job {}/{}: accepted: {} workers in {} data centers, strategy {}", p.ref.ns, p.ref.name,
                 p.spec.total_replicas(), p.spec.data_centers.size(), p.spec.strategy);
    events_.Record(p.job, "Normal", "Created",
                   absl::StrCat("Services and certificates for ", p.spec.total_replicas(), " workers in ",
                                p.spec.data_centers.size(), " data centers"));
  }
  if (!waiting.empty()) {
    p.Condition("TopologyReady", false, "WaitingForGateways", waiting);
  } else {
    p.Condition("TopologyReady", true, "GatewaysAddressed", absl::StrCat(addresses.size(), " gateways have addresses"));
  }
  return addresses;
}

absl::StatusOr<Requeue> JobController::SyncWorkers(Pass& p, const std::map<std::string, std::string>& addresses) {
  // Create what is missing, replace what drifted, count what runs.
  Json dc_status = Json::array();
  int ready_dcs = 0, running = 0, succeeded = 0;
  std::vector<std::pair<const MemberCluster*, std::string>> failed_pods;
  for (size_t i = 0; i < p.spec.data_centers.size(); ++i) {
    const MemberCluster& member = *p.members[i];
    const api::DataCenterSpec& dc = p.spec.data_centers[i];
    std::map<std::string, std::string> peers = addresses;
    peers.erase(dc.name);
    std::map<std::string, Json> pods = member.JobPods(p.ref.ns, p.ref.name, dc.name);
    int dc_running = 0, dc_succeeded = 0, dc_failed = 0;
    for (int replica = 0; replica < dc.replicas; ++replica) {
      const Json desired = WorkerPod(p.ref, p.spec, i, replica, peers, p.controller_address);
      const std::string name = desired["metadata"]["name"];
      auto existing = pods.find(name);
      if (existing == pods.end()) {
        if (absl::StatusOr<Json> created = member.client->Apply(kube::kPods, desired); !created.ok()) {
          return created.status();
        }
        continue;
      }
      const Json pod = existing->second;
      pods.erase(existing);
      const std::string phase = PodPhase(pod);
      if (pod["metadata"].contains("deletionTimestamp")) continue;
      if (Fingerprint(pod) != Fingerprint(desired) && !Terminal(phase)) {
        // Pods are immutable: a changed spec means a new pod.
        absl::Status deleted = member.client->Delete(kube::kPods, p.ref.ns, name);
        if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
        continue;
      }
      dc_running += phase == "Running";
      dc_succeeded += phase == "Succeeded";
      if (phase == "Failed") {
        ++dc_failed;
        failed_pods.emplace_back(&member, name);
      }
    }
    for (const auto& [name, pod] : pods) {  // replicas no longer in the spec
      absl::Status deleted = member.client->Delete(kube::kPods, p.ref.ns, name);
      if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
    }
    ready_dcs += dc_running + dc_succeeded == dc.replicas;
    running += dc_running;
    succeeded += dc_succeeded;
    dc_status.push_back({{"name", dc.name},
                         {"cluster", dc.cluster},
                         {"replicas", dc.replicas},
                         {"running", dc_running},
                         {"succeeded", dc_succeeded},
                         {"failed", dc_failed}});
  }
  std::set<std::string> wanted_dcs;
  for (const api::DataCenterSpec& dc : p.spec.data_centers) wanted_dcs.insert(dc.name);
  absl::Status dropped = DeletePods(p.members, p.job, [&](const Json& pod) {
    return wanted_dcs.count(pod["metadata"]["labels"].value(kDcLabel, "")) == 0;  // DCs no longer in the spec
  });
  if (!dropped.ok()) return dropped;
  p.status["dataCenters"] = dc_status;
  p.status["dataCentersReady"] = absl::StrCat(ready_dcs, "/", p.spec.data_centers.size());

  if (!failed_pods.empty()) {
    const int restarts = p.status.value("restarts", 0) + static_cast<int>(failed_pods.size());
    if (restarts > p.spec.backoff_limit) {
      return Finish(p, false, "BackoffLimitExceeded",
                    absl::StrCat(restarts, " worker failures; backoffLimit is ", p.spec.backoff_limit));
    }
    p.status["restarts"] = restarts;
    for (const auto& [member, name] : failed_pods) {
      absl::Status deleted = member->client->Delete(kube::kPods, p.ref.ns, name);
      if (!deleted.ok() && !absl::IsNotFound(deleted)) return deleted;
    }
    events_.Record(p.job, "Warning", "WorkerFailed",
                   absl::StrCat(failed_pods.size(), " worker(s) failed; recreating (", restarts, " of backoffLimit ",
                                p.spec.backoff_limit, ")"));
  }
  if (succeeded == p.spec.total_replicas()) return Finish(p, true, "Completed", "every worker finished");

  const bool all_running = running + succeeded == p.spec.total_replicas();
  p.status["phase"] = all_running ? "Running" : "Pending";
  if (p.Condition("Running", all_running, all_running ? "AllWorkersRunning" : "WorkersStarting",
                  absl::StrCat(running, " of ", p.spec.total_replicas(), " workers running")) &&
      all_running) {
    events_.Record(p.job, "Normal", "Running", absl::StrCat("all ", p.spec.total_replicas(), " workers are running"));
  }
  RETURN_IF_ERROR(WriteStatus(p.job, p.status));
  return Requeue();
}

}  // namespace geostorm::controllers
