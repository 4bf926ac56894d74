// GeoTrainingJob spec parsing: defaults, and the checks the schema cannot make,
// each naming its field.
#include "operator/api/job_spec.h"

#include <gtest/gtest.h>

namespace geostorm::api {
namespace {

Json Valid() {
  return Json::parse(R"({
    "dataCenters": [
      {"name": "eu", "cluster": "eu-west", "replicas": 2,
       "template": {"spec": {"containers": [{"name": "t", "image": "trainer:1"}]}}},
      {"name": "us", "replicas": 1,
       "template": {"spec": {"containers": [{"name": "t", "image": "trainer:1"}]}}}],
    "sync": {"strategy": "ring", "roots": 1, "reconcileInterval": "1m30s"},
    "runPolicy": {"activeDeadlineSeconds": 600, "cleanPodPolicy": "All"}})");
}

std::string ErrorOf(const Json& spec, const std::string& job = "resnet") {
  absl::StatusOr<JobSpec> parsed = ParseJobSpec(job, spec);
  return parsed.ok() ? "ok" : std::string(parsed.status().message());
}

TEST(JobSpec, ParsesWithDefaults) {
  absl::StatusOr<JobSpec> spec = ParseJobSpec("resnet", Valid());
  ASSERT_TRUE(spec.ok()) << spec.status();
  ASSERT_EQ(spec->data_centers.size(), 2u);
  EXPECT_EQ(spec->data_centers[0].cluster, "eu-west");
  EXPECT_EQ(spec->data_centers[1].cluster, "");
  EXPECT_EQ(spec->total_replicas(), 3);
  EXPECT_EQ(spec->strategy, "ring");
  EXPECT_DOUBLE_EQ(spec->reconcile_interval_s, 90);
  EXPECT_EQ(spec->active_deadline_s, 600);
  EXPECT_FALSE(spec->ttl_after_finished_s.has_value());
  EXPECT_EQ(spec->clean_pod_policy, "All");
  EXPECT_EQ(spec->gateway_service_type, "ClusterIP");
  EXPECT_EQ(spec->data_port, 7070);
  EXPECT_EQ(spec->backoff_limit, 3);
  EXPECT_EQ(spec->sync_mode, "bsp");
  EXPECT_EQ(spec->local_steps, 1);
}

TEST(JobSpec, ErrorsNameTheField) {
  Json spec = Valid();
  spec["dataCenters"][1]["name"] = "eu";
  EXPECT_EQ(ErrorOf(spec), "spec.dataCenters[1].name: duplicate 'eu'");

  spec = Valid();
  spec["sync"]["roots"] = 3;
  EXPECT_EQ(ErrorOf(spec), "spec.sync.roots: 3 roots but 2 data centers");

  spec = Valid();
  spec["dataCenters"][0]["replicas"] = "two";
  EXPECT_EQ(ErrorOf(spec), "spec.dataCenters[0].replicas: wrong type (string)");

  spec = Valid();
  spec["dataCenters"][1]["template"]["spec"]["containers"][0]["name"] = "geostorm-sidecar";
  EXPECT_EQ(ErrorOf(spec),
            "spec.dataCenters[1].template.spec.containers[0].name: 'geostorm-sidecar' is the injected sidecar's");

  spec = Valid();
  spec["dataCenters"][0]["template"]["spec"]["containers"][0]["ports"] = Json::parse(R"([{"containerPort": 9464}])");
  EXPECT_NE(ErrorOf(spec).find("spec.dataCenters[0].template.spec.containers[0].ports[0].containerPort: 9464"),
            std::string::npos);

  spec = Valid();
  spec["dataCenters"][0]["template"]["spec"]["restartPolicy"] = "Always";
  EXPECT_NE(ErrorOf(spec).find("spec.dataCenters[0].template.spec.restartPolicy"), std::string::npos);

  spec = Valid();
  spec["sync"]["reconcileInterval"] = "5 minutes";
  EXPECT_NE(ErrorOf(spec).find("spec.sync.reconcileInterval: '5 minutes' is not a duration"), std::string::npos);

  spec = Valid();
  spec["sidecar"] = Json::parse(R"({"ports": {"data": 9000, "metrics": 9000}})");
  EXPECT_EQ(ErrorOf(spec), "spec.sidecar.ports.metrics: 9000 is also the data port");

  spec = Valid();
  spec["sync"]["mode"] = "async";
  EXPECT_EQ(ErrorOf(spec), "spec.sync.mode: unknown 'async'; want bsp, esync or nbsync");

  spec = Valid();
  spec["sync"]["mode"] = "esync";
  spec["sync"]["localSteps"] = 8;
  spec["sync"]["maxLocalSteps"] = 4;
  EXPECT_EQ(ErrorOf(spec), "spec.sync.localSteps: want 1 <= localSteps (8) <= maxLocalSteps (4) <= 1000");

  spec = Valid();
  spec["sync"]["globalLearningRate"] = 0;
  EXPECT_EQ(ErrorOf(spec), "spec.sync.globalLearningRate: must be positive");

  EXPECT_NE(ErrorOf(Valid(), std::string(60, 'j')).find("would be longer than 63 characters"), std::string::npos);
  EXPECT_EQ(ErrorOf(Valid(), "Bad_Name"), "metadata.name: 'Bad_Name' is not a DNS label");
  EXPECT_EQ(ErrorOf(Json::object()), "spec.dataCenters: at least two data centers (one needs no WAN synchronisation)");
}

TEST(JobSpec, Durations) {
  EXPECT_DOUBLE_EQ(*ParseDuration("250ms"), 0.25);
  EXPECT_DOUBLE_EQ(*ParseDuration("1h2m3s"), 3723);
  EXPECT_FALSE(ParseDuration("").ok());
  EXPECT_FALSE(ParseDuration("10").ok());
  EXPECT_FALSE(ParseDuration("1s2").ok());
}

}  // namespace
}  // namespace geostorm::api
