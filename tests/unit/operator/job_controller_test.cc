// The GeoTrainingJob reconciler against API emulators (a host and one member):
// it creates each DC's objects, then writes nothing while nothing changes, and
// writes only the difference when the spec changes.
#include "operator/controllers/job_controller.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <thread>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "control/credentials.h"
#include "geostorm/v1/control.pb.h"
#include "operator/api/conditions.h"
#include "operator/controllers/desired_state.h"
#include "sidecar/control_link.h"
#include "tests/support/kube_emulator.h"

namespace geostorm::controllers {
namespace {

using kube::Json;
using kube::Resource;

Json ToJson(const YAML::Node& node) {
  if (node.IsMap()) {
    Json out = Json::object();
    for (const auto& entry : node) out[entry.first.as<std::string>()] = ToJson(entry.second);
    return out;
  }
  if (node.IsSequence()) {
    Json out = Json::array();
    for (const auto& item : node) out.push_back(ToJson(item));
    return out;
  }
  if (node.IsNull()) return nullptr;
  const std::string text = node.as<std::string>();
  if (node.Tag() == "!") return text;  // quoted
  if (text == "true" || text == "false") return text == "true";
  char* end = nullptr;
  const long long integer = std::strtoll(text.c_str(), &end, 10);
  if (!text.empty() && *end == '\0') return integer;
  const double number = std::strtod(text.c_str(), &end);
  if (!text.empty() && *end == '\0') return number;
  return text;
}

template <typename Predicate>
bool Eventually(Predicate done) {
  for (int i = 0; i < 250; ++i) {
    if (done()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return done();
}

bool CaughtUp(kube::Client& client, const kube::Informer& informer, const Resource& r, const std::string& selector) {
  absl::StatusOr<kube::ListResult> listed = client.List(r, "", selector);
  if (!listed.ok()) return false;
  auto versions = [](const std::vector<Json>& objects) {
    std::map<std::string, std::string> out;
    for (const Json& o : objects) {
      const Json& meta = o["metadata"];
      out[meta.value("namespace", "") + "/" + meta.value("name", "")] = meta.value("resourceVersion", "");
    }
    return out;
  };
  return versions(listed->items) == versions(informer.List());
}

// Writes (POST, PUT, PATCH, DELETE) the emulator has served, by "METHOD path".
std::map<std::string, int> Writes(kube::Client& client) {
  std::map<std::string, int> writes;
  const Json stats = *client.GetPath("/debug/stats");
  for (const auto& [key, count] : stats["requests"].items()) {
    if (key.rfind("GET", 0) != 0) writes[key] = count;
  }
  return writes;
}

constexpr char kJob[] = R"({"apiVersion": "geostorm.io/v1alpha1", "kind": "GeoTrainingJob",
  "metadata": {"name": "j", "namespace": "default"},
  "spec": {"dataCenters": [
    {"name": "a", "cluster": "m", "replicas": 2, "template": {"spec": {"containers": [{"name": "t", "image": "t:1"}]}}},
    {"name": "b", "cluster": "m", "replicas": 1, "template": {"spec": {"containers": [{"name": "t", "image": "t:1"}]}}}],
    "sync": {"roots": 2}}})";

class JobControllerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    kube::ClusterConfig host_config, member_config;
    host_config.server = host_emulator_.url();
    member_config.server = member_emulator_.url();
    host_ = *kube::MakeClient(host_config);
    member_ = *kube::MakeClient(member_config);
    const Resource crds{"apiextensions.k8s.io", "v1", "customresourcedefinitions", "CustomResourceDefinition", false};
    for (const char* crd : {"geotrainingjobs", "topologypolicies"}) {
      const YAML::Node yaml = YAML::LoadFile(std::string(GEOSTORM_SOURCE_DIR) + "/crds/" + crd + ".yaml");
      ASSERT_TRUE(host_->Create(crds, "", ToJson(yaml)).ok());
    }
    registry_ =
        std::make_unique<ClusterRegistry>([](const std::string&) {}, kube::InformerOptions{}, kube::ClientOptions{});
    ASSERT_TRUE(registry_->Set("m", member_config, std::chrono::seconds(10)).ok());
    jobs_ = std::make_unique<kube::Informer>(*host_, kube::kGeoTrainingJobs, "", "");
    jobs_->Start();
    ASSERT_TRUE(jobs_->WaitForSync(std::chrono::seconds(10)));
    events_ = std::make_unique<EventRecorder>(*host_);
    controller_ = std::make_unique<JobController>(*host_, *jobs_, *registry_, *events_, JobControllerOptions{});
  }

  // Whether every informer holds what its server has (names and resourceVersions):
  // the watches have delivered every write so far.
  bool CachesCaughtUp() {
    const std::string managed = absl::StrCat(controllers::kManagedByLabel, "=", controllers::kManagedBy);
    const auto member = *registry_->Get("m");
    if (!CaughtUp(*host_, *jobs_, kube::kGeoTrainingJobs, "")) return false;
    for (const kube::Resource* r : controllers::kManaged) {
      if (!CaughtUp(*member->client, member->informer(*r), *r, managed)) return false;
    }
    return true;
  }

  // Reconciles until the member's caches and the job's status have settled.
  void Settle() {
    std::string last;
    for (int i = 0; i < 20; ++i) {
      absl::StatusOr<std::optional<std::chrono::milliseconds>> result = controller_->Reconcile("default/j");
      ASSERT_TRUE(result.ok()) << result.status();
      ASSERT_TRUE(Eventually([&] { return CachesCaughtUp(); })) << "the watches never delivered our writes";
      const std::string now = Json(Writes(*host_)).dump() + Json(Writes(*member_)).dump();
      if (now == last) return;
      last = now;
    }
    FAIL() << "the reconciler never stopped writing";
  }

  // A job of two DCs with one worker each (j-a-0, j-b-0), and `run_policy`.
  // ...created, seen by the informer, and reconciled until it settles.
  void CreateTwoWorkerJob(const std::string& run_policy) {
    Json job = Json::parse(kJob);
    job["spec"]["dataCenters"][0]["replicas"] = 1;
    job["spec"]["runPolicy"] = Json::parse(run_policy);
    ASSERT_TRUE(host_->Create(kube::kGeoTrainingJobs, "default", job).ok());
    ASSERT_TRUE(Eventually([&] { return jobs_->Get("default", "j").has_value(); }));
    Settle();
  }

  // Plays the kubelet: sets a pod's phase, and waits until the operator's cache has it.
  void SetPodPhase(const std::string& pod, const std::string& phase) {
    ASSERT_TRUE(member_->MergePatch(kube::kPods, "default", pod, {{"status", {{"phase", phase}}}}, true).ok())
        << Status().dump();
    const auto member = *registry_->Get("m");
    ASSERT_TRUE(Eventually([&] {
      std::optional<Json> cached = member->pods->Get("default", pod);
      return cached && (*cached)["status"].value("phase", "") == phase;
    }));
  }

  Json Status() {
    absl::StatusOr<Json> job = host_->Get(kube::kGeoTrainingJobs, "default", "j");
    return job.ok() ? (*job)["status"] : Json::object();
  }
  Json Condition(const std::string& type) {
    const Json status = Status();
    for (const Json& c : status["conditions"]) {
      if (c["type"] == type) return c;
    }
    return Json::object();
  }

  testing::KubeEmulator host_emulator_;
  testing::KubeEmulator member_emulator_;
  std::unique_ptr<kube::Client> host_, member_;
  std::unique_ptr<ClusterRegistry> registry_;
  std::unique_ptr<kube::Informer> jobs_;
  std::unique_ptr<EventRecorder> events_;
  std::unique_ptr<JobController> controller_;
};

TEST_F(JobControllerTest, WritesNothingWhenNothingChangedAndOnlyTheDifferenceWhenItDid) {
  ASSERT_TRUE(host_->Create(kube::kGeoTrainingJobs, "default", Json::parse(kJob)).ok());
  ASSERT_TRUE(Eventually([&] { return jobs_->Get("default", "j").has_value(); }));
  Settle();
  const JobRef job{"default", "j"};
  absl::StatusOr<kube::ListResult> pods = member_->List(kube::kPods, "default", JobSelector(job));
  ASSERT_TRUE(pods.ok());
  ASSERT_EQ(pods->items.size(), 3u) << host_->Get(kube::kGeoTrainingJobs, "default", "j")->dump();
  ASSERT_EQ(member_->List(kube::kServices, "default", JobSelector(job))->items.size(), 4u);
  ASSERT_EQ(member_->List(kube::kSecrets, "default", JobSelector(job))->items.size(), 2u);
  ASSERT_EQ(member_->List(kube::kConfigMaps, "default", JobSelector(job))->items.size(), 2u);
  absl::StatusOr<kube::ListResult> policies = host_->List(kube::kTopologyPolicies, "default", JobSelector(job));
  ASSERT_EQ(policies->items.size(), 1u);
  EXPECT_EQ(policies->items[0]["metadata"]["name"], "j-v1");
  EXPECT_EQ(policies->items[0]["spec"]["policy"]["dataCenters"], Json::parse(R"(["a", "b"])"));
  Json stored = *host_->Get(kube::kGeoTrainingJobs, "default", "j");
  EXPECT_EQ(stored["metadata"]["finalizers"][0], kFinalizer);
  EXPECT_EQ(stored["status"]["phase"], "Pending");
  EXPECT_EQ(stored["status"]["dataCentersReady"], "0/2");
  EXPECT_EQ(stored["status"]["policyVersion"], 1);

  // Level-triggered and idempotent: more passes over an unchanged world write nothing.
  const auto host_before = Writes(*host_);
  const auto member_before = Writes(*member_);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(controller_->Reconcile("default/j").ok());
  EXPECT_EQ(Writes(*host_), host_before);
  EXPECT_EQ(Writes(*member_), member_before);

  // A new image for b's workers: b's one pod is replaced (pods are immutable);
  // a's pods, the Services and the Secrets are left alone.
  ASSERT_TRUE(host_
                  ->MergePatch(kube::kGeoTrainingJobs, "default", "j", Json::parse(R"({"spec": {"dataCenters": [
    {"name": "a", "cluster": "m", "replicas": 2, "template": {"spec": {"containers": [{"name": "t", "image": "t:1"}]}}},
    {"name": "b", "cluster": "m", "replicas": 1, "template": {"spec": {"containers": [{"name": "t", "image": "t:2"}]}}}]}})"))
                  .ok());
  ASSERT_TRUE(Eventually([&] { return (*jobs_->Get("default", "j"))["metadata"]["generation"] == 2; }));
  Settle();
  std::map<std::string, int> member_after = Writes(*member_);
  std::map<std::string, int> new_writes;
  for (const auto& [key, count] : member_after) {
    const int before = member_before.count(key) ? member_before.at(key) : 0;
    if (count != before) new_writes[key] = count - before;
  }
  const std::map<std::string, int> want = {{"DELETE /api/v1/namespaces/default/pods/j-b-0", 1},
                                           {"PATCH /api/v1/namespaces/default/pods/j-b-0", 1}};
  EXPECT_EQ(new_writes, want);
  EXPECT_EQ((*member_->Get(kube::kPods, "default", "j-b-0"))["spec"]["containers"][0]["image"], "t:2");
  EXPECT_EQ((*host_->Get(kube::kGeoTrainingJobs, "default", "j"))["status"]["observedGeneration"], 2);

  // A new strategy is a new plan: policy v2 is recorded and the ConfigMaps follow.
  ASSERT_TRUE(host_
                  ->MergePatch(kube::kGeoTrainingJobs, "default", "j",
                               Json::parse(R"({"spec": {"sync": {"strategy": "ring"}}})"))
                  .ok());
  ASSERT_TRUE(Eventually([&] { return (*jobs_->Get("default", "j"))["metadata"]["generation"] == 3; }));
  Settle();
  EXPECT_EQ(host_->List(kube::kTopologyPolicies, "default", JobSelector(job))->items.size(), 2u);
  EXPECT_EQ((*host_->Get(kube::kTopologyPolicies, "default", "j-v2"))["spec"]["strategy"], "ring");
  const std::string file = (*member_->Get(kube::kConfigMaps, "default", "j-a-policy"))["data"]["policy.json"];
  EXPECT_NE(file.find("\"ring\""), std::string::npos);
  EXPECT_EQ((*host_->Get(kube::kGeoTrainingJobs, "default", "j"))["status"]["policyVersion"], 2);
}

TEST_F(JobControllerTest, AnUnknownClusterCreatesNothingAndSaysWhich) {
  Json job = Json::parse(kJob);
  job["spec"]["dataCenters"][1]["cluster"] = "nowhere";
  ASSERT_TRUE(host_->Create(kube::kGeoTrainingJobs, "default", job).ok());
  ASSERT_TRUE(Eventually([&] { return jobs_->Get("default", "j").has_value(); }));
  absl::StatusOr<std::optional<std::chrono::milliseconds>> result = controller_->Reconcile("default/j");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_TRUE(result->has_value());  // it looks again later: the GeoCluster may appear
  const Json stored = *host_->Get(kube::kGeoTrainingJobs, "default", "j");
  EXPECT_EQ(stored["status"]["phase"], "Failed");
  bool named = false;
  for (const Json& c : stored["status"]["conditions"]) {
    named |=
        c["type"] == "InvalidSpec" && c["message"] == "spec.dataCenters[1].cluster: GeoCluster 'nowhere' not found";
  }
  EXPECT_TRUE(named) << stored["status"].dump();
  EXPECT_TRUE(Writes(*member_).empty()) << Json(Writes(*member_)).dump();
}

// A job reconciled before the operator knows its GeoCluster is refused for now
// (InvalidSpec, Failed). Once the GeoCluster is known but not yet ready, the job
// waits for it, no longer failed; once it is ready, the job is created.
TEST_F(JobControllerTest, AJobSeenBeforeItsClusterWaitsForItOnceTheClusterIsKnown) {
  Json job = Json::parse(kJob);
  job["spec"]["dataCenters"][1]["cluster"] = "late";
  ASSERT_TRUE(host_->Create(kube::kGeoTrainingJobs, "default", job).ok());
  ASSERT_TRUE(Eventually([&] { return jobs_->Get("default", "j").has_value(); }));
  auto reconcile = [&] {
    absl::StatusOr<std::optional<std::chrono::milliseconds>> result = controller_->Reconcile("default/j");
    ASSERT_TRUE(result.ok()) << result.status();
    EXPECT_TRUE(result->has_value());  // it looks again
    ASSERT_TRUE(Eventually([&] { return CachesCaughtUp(); }));
  };
  ASSERT_NO_FATAL_FAILURE(reconcile());
  ASSERT_EQ(Status()["phase"], "Failed") << Status().dump();
  ASSERT_EQ(Condition("InvalidSpec")["status"], "True");

  registry_->SetError("late", "connection refused");  // known, its probe failing
  ASSERT_NO_FATAL_FAILURE(reconcile());
  const Json waiting = Status();
  EXPECT_FALSE(waiting.contains("phase")) << waiting.dump();
  EXPECT_EQ(waiting["reason"], "ClusterNotReady") << waiting.dump();
  EXPECT_EQ(Condition("InvalidSpec")["status"], "False");
  EXPECT_EQ(Condition("Failed")["status"], "False");
  EXPECT_EQ(Condition("ClustersReady")["message"],
            "spec.dataCenters[1].cluster: GeoCluster 'late' is not ready: connection refused");
  EXPECT_TRUE(Writes(*member_).empty()) << Json(Writes(*member_)).dump();

  kube::ClusterConfig config;
  config.server = member_emulator_.url();
  ASSERT_TRUE(registry_->Set("late", config, std::chrono::seconds(10)).ok());
  Settle();
  EXPECT_EQ(Condition("ClustersReady")["status"], "True");
  EXPECT_EQ(Status()["phase"], "Pending") << Status().dump();
  EXPECT_TRUE(member_->Get(kube::kPods, "default", "j-b-0").ok());
}

// The same, on a job cache that lags: the pass that waits for the cluster reads the
// job from before the InvalidSpec write. Its status write is refused (409) rather
// than replacing the conditions under a phase it never saw, and a pass on a fresh
// cache withdraws InvalidSpec and the Failed phase.
TEST_F(JobControllerTest, AStaleCacheCannotLeaveAWaitingJobFailed) {
  Json job = Json::parse(kJob);
  job["spec"]["dataCenters"][1]["cluster"] = "late";
  job["metadata"]["finalizers"] = Json::array({kFinalizer});
  ASSERT_TRUE(host_->Create(kube::kGeoTrainingJobs, "default", job).ok());
  ASSERT_TRUE(Eventually([&] { return jobs_->Get("default", "j").has_value(); }));
  jobs_->Stop();  // the cache keeps the job as created
  ASSERT_TRUE(controller_->Reconcile("default/j").ok());
  ASSERT_EQ(Status()["phase"], "Failed");

  registry_->SetError("late", "connection refused");
  absl::StatusOr<std::optional<std::chrono::milliseconds>> stale = controller_->Reconcile("default/j");
  EXPECT_TRUE(absl::IsAborted(stale.status())) << (stale.ok() ? "the stale write went through" : "");
  EXPECT_EQ(Condition("InvalidSpec")["status"], "True") << Status().dump();

  kube::Informer fresh(*host_, kube::kGeoTrainingJobs, "", "");
  fresh.Start();
  ASSERT_TRUE(fresh.WaitForSync(std::chrono::seconds(10)));
  JobController controller(*host_, fresh, *registry_, *events_, JobControllerOptions{});
  ASSERT_TRUE(controller.Reconcile("default/j").ok());
  EXPECT_FALSE(Status().contains("phase")) << Status().dump();
  EXPECT_EQ(Condition("InvalidSpec")["status"], "False");
  EXPECT_EQ(Condition("ClustersReady")["status"], "False");
}

// A member whose API server stops answering while the job runs: its GeoCluster's
// probe fails within the probe timeout, the job says so (ClustersReady, the REASON
// column) and keeps its phase; nothing is written anywhere meanwhile, and once the
// member answers again the condition clears and no worker is made again.
TEST_F(JobControllerTest, AnUnreachableMemberIsShownWhileItLastsAndNothingIsRedoneAfter) {
  ASSERT_NO_FATAL_FAILURE(CreateTwoWorkerJob("{}"));
  SetPodPhase("j-a-0", "Running");
  SetPodPhase("j-b-0", "Running");
  Settle();
  ASSERT_EQ(Status()["phase"], "Running");
  EXPECT_EQ(Condition("ClustersReady")["status"], "True");
  auto uids = [&] {
    std::set<std::string> out;
    absl::StatusOr<kube::ListResult> pods = member_->List(kube::kPods, "default", JobSelector({"default", "j"}));
    if (pods.ok()) {
      for (const Json& pod : pods->items) out.insert(pod["metadata"]["uid"].get<std::string>());
    }
    return out;
  };
  const std::set<std::string> uids_before = uids();
  const auto member_writes = Writes(*member_);

  kube::ClusterConfig config;
  config.server = member_emulator_.url();
  member_emulator_.Freeze(true);
  const auto probed = std::chrono::steady_clock::now();
  const absl::Status probe = registry_->Set("m", config, std::chrono::seconds(10));
  member_emulator_.Freeze(false);
  ASSERT_FALSE(probe.ok()) << "a member that does not answer passed the probe";
  // One 5-s probe (cpprest tries a kept-alive connection, then once more on a new
  // one), where the client's requests would take 6 attempts of 30 s.
  EXPECT_LT(std::chrono::steady_clock::now() - probed, std::chrono::seconds(15));
  registry_->SetError("m", std::string(probe.message()));  // as the GeoCluster reconciler does

  absl::StatusOr<std::optional<std::chrono::milliseconds>> next = controller_->Reconcile("default/j");
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_TRUE(next->has_value());  // it looks again
  const Json status = Status();
  EXPECT_EQ(status["phase"], "Running") << status.dump();
  EXPECT_EQ(status["reason"], "ClusterNotReady");
  EXPECT_EQ(Condition("ClustersReady")["status"], "False");
  EXPECT_EQ(Condition("ClustersReady")["message"],
            absl::StrCat("spec.dataCenters[0].cluster: GeoCluster 'm' is not ready: ", probe.message()));
  EXPECT_NE(Condition("Failed")["status"], "True");

  ASSERT_TRUE(registry_->Set("m", config, std::chrono::seconds(10)).ok());
  Settle();
  EXPECT_EQ(Condition("ClustersReady")["status"], "True");
  EXPECT_EQ(Status()["phase"], "Running");
  EXPECT_FALSE(Status().contains("reason")) << Status().dump();
  EXPECT_EQ(uids(), uids_before);
  EXPECT_EQ(Writes(*member_), member_writes);
}

// A spec a member's API server would refuse, in a way the operator's own checks do
// not look at (a mount of a volume the pod lacks), is found by the dry run: the job
// fails with the server's reason, and nothing of it exists in any member.
TEST_F(JobControllerTest, AnObjectAMemberWouldRefuseCreatesNothingAnywhere) {
  Json job = Json::parse(kJob);
  job["spec"]["dataCenters"][1]["template"]["spec"]["containers"][0]["volumeMounts"] =
      Json::parse(R"([{"name": "scratch", "mountPath": "/scratch"}])");
  ASSERT_TRUE(host_->Create(kube::kGeoTrainingJobs, "default", job).ok());
  ASSERT_TRUE(Eventually([&] { return jobs_->Get("default", "j").has_value(); }));
  absl::StatusOr<std::optional<std::chrono::milliseconds>> result = controller_->Reconcile("default/j");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(Status()["phase"], "Failed");
  const std::string message = Condition("InvalidSpec")["message"];
  EXPECT_EQ(message.rfind("spec.dataCenters[1]: cluster 'm' would refuse Pod j-b-0: ", 0), 0u) << message;
  EXPECT_NE(message.find(R"(: Pod "j-b-0" is invalid: spec.containers[0].volumeMounts[0].name: Not found: "scratch")"),
            std::string::npos)
      << message;
  for (const Resource* r : {&kube::kPods, &kube::kServices, &kube::kSecrets, &kube::kConfigMaps}) {
    absl::StatusOr<kube::ListResult> left = member_->List(*r, "default", "geostorm.io/job-name=j");
    ASSERT_TRUE(left.ok()) << left.status();
    EXPECT_TRUE(left->items.empty()) << r->plural << ": " << Json(left->items).dump();
  }
}

// runPolicy: failed workers come back until backoffLimit, then the job fails.
// The job informer can lag behind the pass that made the workers: a pass that does
// not see the Created condition yet checks the job again, and finds its pods made.
// That must not fail a running job as InvalidSpec (pods are immutable, and the check
// uses stand-in peer addresses), nor touch its workers.
TEST_F(JobControllerTest, APassThatDoesNotSeeCreatedYetLeavesTheRunningJobAlone) {
  CreateTwoWorkerJob("{}");
  ASSERT_EQ(Condition("Created").value("status", ""), "True") << Status().dump();
  const std::string gateway_uid = (*member_->Get(kube::kPods, "default", "j-a-0"))["metadata"]["uid"];
  const std::string phase = Status().value("phase", "");
  Json lagging = Status();  // as a cache that has not had the Created write yet shows it
  Json& conditions = lagging["conditions"];
  conditions.erase(
      std::remove_if(conditions.begin(), conditions.end(), [](const Json& c) { return c["type"] == "Created"; }),
      conditions.end());
  ASSERT_TRUE(host_->MergePatch(kube::kGeoTrainingJobs, "default", "j", {{"status", lagging}}, true).ok());
  ASSERT_TRUE(Eventually([&] { return CachesCaughtUp(); }));

  absl::StatusOr<std::optional<std::chrono::milliseconds>> result = controller_->Reconcile("default/j");
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_NE(Condition("InvalidSpec").value("status", ""), "True") << Status().dump();
  EXPECT_EQ(Status().value("phase", ""), phase) << Status().dump();
  EXPECT_EQ((*member_->Get(kube::kPods, "default", "j-a-0"))["metadata"]["uid"], gateway_uid);
}

TEST_F(JobControllerTest, RecreatesFailedWorkersUntilTheBackoffLimit) {
  ASSERT_NO_FATAL_FAILURE(CreateTwoWorkerJob(R"({"backoffLimit": 1})"));
  const std::string first_uid = (*member_->Get(kube::kPods, "default", "j-a-0"))["metadata"]["uid"];
  SetPodPhase("j-a-0", "Failed");
  Settle();
  const Json second = *member_->Get(kube::kPods, "default", "j-a-0");
  EXPECT_NE(second["metadata"]["uid"], first_uid);  // a new pod
  EXPECT_EQ(Status()["restarts"], 1);
  EXPECT_EQ(Status()["phase"], "Pending");
  SetPodPhase("j-a-0", "Failed");
  Settle();
  EXPECT_EQ(Status()["phase"], "Failed");
  EXPECT_EQ(Condition("Failed")["reason"], "BackoffLimitExceeded");
  EXPECT_TRUE(member_->Get(kube::kPods, "default", "j-a-0").ok());  // cleanPodPolicy Running keeps finished pods
}

// runPolicy: success, then cleanPodPolicy All, then ttlSecondsAfterFinished deletes
// the job, and the finalizer empties the member first. (3 s: room for the set-up.)
TEST_F(JobControllerTest, SucceedsCleansPodsAndExpires) {
  ASSERT_NO_FATAL_FAILURE(CreateTwoWorkerJob(R"({"cleanPodPolicy": "All", "ttlSecondsAfterFinished": 3})"));
  SetPodPhase("j-a-0", "Succeeded");
  SetPodPhase("j-b-0", "Succeeded");
  Settle();
  EXPECT_EQ(Status()["phase"], "Succeeded");
  EXPECT_EQ(Condition("Succeeded")["status"], "True");
  EXPECT_TRUE(Status().contains("completionTime"));
  EXPECT_TRUE(member_->List(kube::kPods, "default", JobSelector({"default", "j"}))->items.empty());
  EXPECT_TRUE(host_->Get(kube::kGeoTrainingJobs, "default", "j").ok());  // until the TTL
  std::this_thread::sleep_until(*api::ParseTime(Status()["completionTime"].get<std::string>()) +
                                std::chrono::milliseconds(3100));
  ASSERT_TRUE(Eventually([&] {
    (void)controller_->Reconcile("default/j");
    return absl::IsNotFound(host_->Get(kube::kGeoTrainingJobs, "default", "j").status());
  }));
  EXPECT_TRUE(member_->List(kube::kServices, "default", JobSelector({"default", "j"}))->items.empty());
}

// runPolicy: activeDeadlineSeconds fails the job and removes its running workers.
// (4 s: the set-up before the deadline must fit in it even on a loaded machine.)
TEST_F(JobControllerTest, FailsAtTheActiveDeadline) {
  ASSERT_NO_FATAL_FAILURE(CreateTwoWorkerJob(R"({"activeDeadlineSeconds": 4})"));
  SetPodPhase("j-a-0", "Running");
  SetPodPhase("j-b-0", "Succeeded");
  absl::StatusOr<std::optional<std::chrono::milliseconds>> next = controller_->Reconcile("default/j");
  ASSERT_TRUE(next.ok() && next->has_value());  // it asks to look again at the deadline
  EXPECT_LE(**next, std::chrono::milliseconds(4000));
  EXPECT_GE(**next, std::chrono::milliseconds(100));
  const auto started = *api::ParseTime(Status()["startTime"].get<std::string>());
  std::this_thread::sleep_until(started + std::chrono::milliseconds(4100));
  Settle();
  EXPECT_EQ(Status()["phase"], "Failed");
  EXPECT_EQ(Condition("Failed")["reason"], "DeadlineExceeded");
  EXPECT_TRUE(absl::IsNotFound(member_->Get(kube::kPods, "default", "j-a-0").status()));  // it was running
  EXPECT_TRUE(member_->Get(kube::kPods, "default", "j-b-0").ok());                        // it had finished
}

// With a live policy controller: gateways are told to dial it, it serves the
// job's policy over the real control protocol, and the job's status follows what
// the gateways report.
class LiveControllerTest : public JobControllerTest, public ::testing::WithParamInterface<bool> {};

TEST_P(LiveControllerTest, RunsEachJobsPolicyControllerForItsGateways) {
  const bool insecure = GetParam();
  PolicyRunners runners(*host_, {"127.0.0.1", "127.0.0.1", insecure});
  JobControllerOptions options;
  options.policy_runners = &runners;
  controller_ = std::make_unique<JobController>(*host_, *jobs_, *registry_, *events_, options);
  ASSERT_TRUE(host_->Create(kube::kGeoTrainingJobs, "default", Json::parse(kJob)).ok());
  ASSERT_TRUE(Eventually([&] { return jobs_->Get("default", "j").has_value(); }));
  Settle();
  const int port = Status().value("controlPort", 0);
  ASSERT_GT(port, 0);
  const std::vector<std::string> args =
      (*member_->Get(kube::kPods, "default", "j-a-0"))["spec"]["initContainers"][0]["args"];
  const std::vector<std::string> want = {"--controller", "127.0.0.1:" + std::to_string(port)};
  EXPECT_NE(std::search(args.begin(), args.end(), want.begin(), want.end()), args.end());
  EXPECT_TRUE(member_->List(kube::kConfigMaps, "default", JobSelector({"default", "j"}))->items.empty());

  // Two gateways, through the sidecar's own control client, with DC a's mTLS
  // material as the operator gave it to DC a (the controller's certificate names
  // the advertised address, and is signed by the job's CA).
  testing::TempDir dir;
  control::TlsFiles files;
  if (!insecure) {
    const Json data = (*member_->Get(kube::kSecrets, "default", "j-a-tls"))["data"];
    auto write = [&](const std::string& key) {
      std::string pem;
      absl::Base64Unescape(data[key].get<std::string>(), &pem);
      std::ofstream(dir.path() + "/" + key) << pem;
      return dir.path() + "/" + key;
    };
    files = {write("tls.crt"), write("tls.key"), write("ca.crt")};
  }
  absl::StatusOr<control::Credentials> credentials = control::MakeCredentials(files, insecure);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  std::atomic<uint64_t> versions_seen{0};
  std::vector<std::unique_ptr<sidecar::ControlLink>> gateways;
  for (const char* dc : {"a", "b"}) {
    sidecar::ControlLink::Callbacks callbacks;
    callbacks.hello = [dc] {
      v1::Hello hello;
      hello.set_job("default.j");
      hello.set_data_center(dc);
      hello.set_iteration(7);
      return hello;
    };
    callbacks.on_update = [&](const v1::PolicyUpdate& update) {
      const auto& committed = update.current().committed();
      if (update.has_current() && !committed.empty()) versions_seen = committed.rbegin()->policy().version();
    };
    callbacks.progress = [dc] {
      v1::Progress progress;
      progress.set_job("default.j");
      progress.set_data_center(dc);
      progress.set_iteration(7);
      progress.set_policy_version(1);
      return progress;
    };
    gateways.push_back(std::make_unique<sidecar::ControlLink>("127.0.0.1:" + std::to_string(port), credentials->channel,
                                                              callbacks, std::chrono::milliseconds(100)));
  }
  EXPECT_TRUE(Eventually([&] { return versions_seen == 1; }));
  EXPECT_TRUE(Eventually([&] {
    (void)controller_->Reconcile("default/j");
    return Status().value("iteration", 0) == 7;
  }));
  EXPECT_EQ(Status()["policyVersion"], 1);
  EXPECT_EQ((*host_->Get(kube::kTopologyPolicies, "default", "j-v1"))["spec"]["phase"], "Committed");
  gateways.clear();
}

INSTANTIATE_TEST_SUITE_P(Credentials, LiveControllerTest, ::testing::Values(false, true),
                         [](const ::testing::TestParamInfo<bool>& info) { return info.param ? "plaintext" : "mtls"; });

}  // namespace
}  // namespace geostorm::controllers
