// What the operator writes into a member cluster: the injected native sidecar, the
// Services, labels, and fingerprints that change exactly when content does.
#include "operator/controllers/desired_state.h"

#include <gtest/gtest.h>

#include <map>

namespace geostorm::controllers {
namespace {

api::JobSpec Spec() {
  absl::StatusOr<api::JobSpec> spec = api::ParseJobSpec("resnet", Json::parse(R"({
    "dataCenters": [
      {"name": "eu", "replicas": 2, "template": {"metadata": {"labels": {"team": "vision"}},
        "spec": {"initContainers": [{"name": "fetch", "image": "fetch:1"}],
                 "containers": [{"name": "t", "image": "trainer:1", "env": [{"name": "A", "value": "1"}]}]}}},
      {"name": "us", "replicas": 1, "template": {"spec": {"containers": [{"name": "t", "image": "trainer:1"}]}}}],
    "sidecar": {"image": "sidecar:2", "resources": {"limits": {"cpu": "1"}}}})"));
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

bool HasArgs(const Json& container, const std::vector<std::string>& sequence) {
  const std::vector<std::string> args = container["args"];
  return std::search(args.begin(), args.end(), sequence.begin(), sequence.end()) != args.end();
}

TEST(DesiredState, GatewayPodGetsANativeSidecarWithPeers) {
  const JobRef job{"ml", "resnet"};
  const Json pod = WorkerPod(job, Spec(), 0, 0, {{"us", "198.51.100.20:7070"}}, "ctl:7000");
  EXPECT_EQ(pod["metadata"]["name"], "resnet-eu-0");
  EXPECT_EQ(pod["metadata"]["labels"][kReplicaLabel], "0");
  EXPECT_EQ(pod["metadata"]["labels"][kDcLabel], "eu");
  EXPECT_EQ(pod["metadata"]["labels"]["team"], "vision");
  const Json& init = pod["spec"]["initContainers"];
  ASSERT_EQ(init.size(), 2u);
  EXPECT_EQ(init[0]["name"], api::kSidecarName);  // first, so it starts before the others
  EXPECT_EQ(init[0]["restartPolicy"], "Always");
  EXPECT_EQ(init[0]["image"], "sidecar:2");
  EXPECT_EQ(init[0]["resources"]["limits"]["cpu"], "1");
  EXPECT_EQ(init[1]["name"], "fetch");
  EXPECT_TRUE(HasArgs(init[0], {"--peer", "us=198.51.100.20:7070"}));
  EXPECT_TRUE(HasArgs(init[0], {"--workers", "2", "--total-workers", "3"}));
  EXPECT_TRUE(HasArgs(init[0], {"--controller", "ctl:7000"}));
  EXPECT_TRUE(HasArgs(init[0], {"--job", "ml.resnet"}));
  const Json& worker = pod["spec"]["containers"][0];
  ASSERT_EQ(worker["env"].size(), 11u);  // its own, then geostorm's
  EXPECT_EQ(worker["env"][1]["name"], "GEOSTORM_SIDECAR");
  EXPECT_TRUE(HasArgs(init[0], {"--sync-mode", "bsp"}));
  EXPECT_EQ(pod["spec"]["restartPolicy"], "Never");
  EXPECT_EQ(pod["spec"]["subdomain"], "resnet-eu");
  EXPECT_EQ(pod["spec"]["volumes"][1]["secret"]["secretName"], "resnet-eu-tls");
}

TEST(DesiredState, WithoutAControllerTheGatewayReadsItsPolicyFromAConfigMap) {
  const Json pod = WorkerPod({"ml", "resnet"}, Spec(), 1, 0, {{"eu", "x:1"}}, "");
  EXPECT_TRUE(HasArgs(pod["spec"]["initContainers"][0], {"--policy", "/etc/geostorm/policy/policy.json"}));
  EXPECT_EQ(pod["spec"]["volumes"][2]["configMap"]["name"], "resnet-us-policy");
  const Json member = WorkerPod({"ml", "resnet"}, Spec(), 0, 1, {{"us", "x:1"}}, "");
  EXPECT_EQ(member["spec"]["volumes"].size(), 2u);  // members take the policy from their gateway
}

// The spec check refuses template volumes with these names (api::kInjectedVolumes).
TEST(DesiredState, InjectedVolumesAreTheOnesTheSpecReserves) {
  const Json pod = WorkerPod({"ml", "resnet"}, Spec(), 1, 0, {{"eu", "x:1"}}, "");
  std::vector<std::string> names;
  for (const Json& v : pod["spec"]["volumes"]) names.push_back(v["name"]);
  EXPECT_EQ(names, std::vector<std::string>(std::begin(api::kInjectedVolumes), std::end(api::kInjectedVolumes)));
}

// The worker library's environment: ranks are global (the DCs in spec order), so
// that exactly one worker of the job is rank 0.
TEST(DesiredState, WorkersGetAGlobalRank) {
  auto env = [](const Json& pod) {
    std::map<std::string, std::string> out;
    for (const Json& e : pod["spec"]["containers"][0]["env"]) out[e["name"]] = e["value"];
    return out;
  };
  const auto us = env(WorkerPod({"ml", "resnet"}, Spec(), 1, 0, {{"eu", "x:1"}}, ""));
  EXPECT_EQ(us.at("GEOSTORM_RANK"), "2");  // after eu's 2 workers
  EXPECT_EQ(us.at("GEOSTORM_DC_INDEX"), "1");
  EXPECT_EQ(us.at("GEOSTORM_DCS"), "2");
  EXPECT_EQ(us.at("GEOSTORM_WORKER_INDEX"), "0");
  EXPECT_EQ(us.at("GEOSTORM_WORLD_SIZE"), "3");
  EXPECT_EQ(env(WorkerPod({"ml", "resnet"}, Spec(), 0, 1, {{"us", "x:1"}}, "")).at("GEOSTORM_RANK"), "1");
}

TEST(DesiredState, MemberPodDialsItsGateway) {
  const Json pod = WorkerPod({"ml", "resnet"}, Spec(), 0, 1, {{"us", "x:1"}}, "");
  const Json& sidecar = pod["spec"]["initContainers"][0];
  EXPECT_TRUE(HasArgs(sidecar, {"--gateway", "resnet-eu-0.resnet-eu.ml.svc:7070", "--member-id", "resnet-eu-1"}));
  EXPECT_FALSE(HasArgs(sidecar, {"--peer", "us=x:1"}));
}

TEST(DesiredState, FingerprintsFollowContent) {
  const JobRef job{"ml", "resnet"};
  const api::JobSpec spec = Spec();
  const Json a = WorkerPod(job, spec, 0, 0, {{"us", "x:1"}}, "");
  EXPECT_EQ(Fingerprint(a), Fingerprint(WorkerPod(job, spec, 0, 0, {{"us", "x:1"}}, "")));
  EXPECT_NE(Fingerprint(a), Fingerprint(WorkerPod(job, spec, 0, 0, {{"us", "x:2"}}, "")));
  Json restamped = a;
  Stamp(restamped);
  EXPECT_EQ(Fingerprint(restamped), Fingerprint(a));
  EXPECT_EQ(Fingerprint(a).size(), 16u);
}

TEST(DesiredState, ServicesAndAddresses) {
  const JobRef job{"ml", "resnet"};
  api::JobSpec spec = Spec();
  spec.gateway_service_type = "LoadBalancer";
  Json gateway = GatewayService(job, spec, "us");
  EXPECT_EQ(gateway["metadata"]["name"], "resnet-us-gateway");
  EXPECT_EQ(gateway["spec"]["selector"][kReplicaLabel], "0");
  EXPECT_EQ(GatewayAddress(gateway, 7070), std::nullopt);  // no load balancer yet
  gateway["status"]["loadBalancer"]["ingress"] = Json::parse(R"([{"hostname": "lb.example"}])");
  EXPECT_EQ(GatewayAddress(gateway, 7070), "lb.example:7070");
  Json cluster_ip = GatewayService(job, Spec(), "us");
  cluster_ip["spec"]["clusterIP"] = "10.96.0.7";
  EXPECT_EQ(GatewayAddress(cluster_ip, 7070), "10.96.0.7:7070");
  EXPECT_EQ(HeadlessService(job, spec, "us")["spec"]["clusterIP"], "None");
  EXPECT_EQ(JobKeyOf(gateway), "ml/resnet");
  EXPECT_EQ(JobKeyOf(Json::parse(R"({"metadata": {"name": "x"}})")), std::nullopt);
}

}  // namespace
}  // namespace geostorm::controllers
