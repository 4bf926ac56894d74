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
  spec["dataCenters"][0]["template"]["metadata"]["annotations"]["note"] = std::string(kMaxSpecBytes, 'x');
  EXPECT_EQ(ErrorOf(spec).rfind("spec: ", 0), 0u) << ErrorOf(spec);
  EXPECT_NE(ErrorOf(spec).find(" bytes; at most 1 MiB"), std::string::npos) << ErrorOf(spec);

  spec = Valid();
  spec["dataCenters"][1]["name"] = "eu";
  EXPECT_EQ(ErrorOf(spec), "spec.dataCenters[1].name: duplicate 'eu'");

  spec = Valid();
  spec["sync"]["roots"] = 3;
  EXPECT_EQ(ErrorOf(spec), "spec.sync.roots: 3 roots but 2 data centers");

  spec = Valid();
  spec["dataCenters"][0]["replicas"] = "two";
  EXPECT_EQ(ErrorOf(spec), "spec.dataCenters[0].replicas: want an integer, got \"two\"");

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

  // A name too long with any DC is the job name's fault; one too long with this DC, the DC's.
  EXPECT_EQ(ErrorOf(Valid(), std::string(54, 'j')),
            "metadata.name: '" + std::string(54, 'j') +
                "' is too long: the names of its Services add '-<dc>-gateway' and must fit in 63 characters");
  spec = Valid();
  spec["dataCenters"][1]["name"] = "us-east-coast";
  EXPECT_EQ(ErrorOf(spec, std::string(50, 'j')), "spec.dataCenters[1].name: '" + std::string(50, 'j') +
                                                     "-us-east-coast-gateway' would be longer than 63 characters");
  EXPECT_EQ(ErrorOf(Valid(), "9lives"),
            "metadata.name: '9lives' must start with a letter: it begins its Services' names (DNS-1035)");
  EXPECT_EQ(ErrorOf(Valid(), "Bad_Name"), "metadata.name: 'Bad_Name' is not a DNS label");
  EXPECT_EQ(ErrorOf(Json::object()), "spec.dataCenters: at least two data centers (one needs no WAN synchronisation)");
}

// What the member API servers would refuse in the pods and Services made from a
// spec is refused here first, naming the spec's field: no job is half created.
TEST(JobSpec, RefusesWhatAMemberWouldRefuseInItsObjects) {
  auto with = [](const std::string& path, const Json& value) {
    Json spec = Valid();
    spec[Json::json_pointer(path)] = value;
    return ErrorOf(spec);
  };
  const std::string pod = "/dataCenters/0/template/spec";
  const std::string at = "spec.dataCenters[0].template.spec";
  EXPECT_EQ(with(pod + "/containers/0/name", "Trainer_1"), at + ".containers[0].name: 'Trainer_1' is not a DNS label");
  EXPECT_EQ(with(pod + "/initContainers", Json::parse(R"([{"name": "t", "image": "x"}])")),
            at + ".initContainers[0].name: duplicate 't'");
  EXPECT_EQ(with(pod + "/volumes", Json::parse(R"([{"name": "data", "emptyDir": {}}, {"name": "data"}])")),
            at + ".volumes[1].name: duplicate 'data'");
  for (const char* injected : kInjectedVolumes) {
    EXPECT_EQ(with(pod + "/volumes", Json::parse(R"([{"name": ")" + std::string(injected) + R"(", "emptyDir": {}}])")),
              at + ".volumes[0].name: '" + injected + "' is the injected sidecar's");
  }
  EXPECT_EQ(with(pod + "/volumes", Json::parse(R"([{"name": "Data"}])")),
            at + ".volumes[0].name: 'Data' is not a DNS label");
  EXPECT_EQ(with(pod + "/restartPolicy", "Sometimes"),
            at + ".restartPolicy: unknown \"Sometimes\"; want Never or OnFailure");
}

// A schema-less API server lets any JSON through: every wrong type is an error
// naming its field, never an exception or a silently truncated number.
TEST(JobSpec, WrongTypesAreErrorsNamingTheField) {
  auto with = [](const std::string& path, const Json& value) {
    Json spec = Valid();
    spec[Json::json_pointer(path)] = value;
    return ErrorOf(spec);
  };
  EXPECT_EQ(with("/dataCenters/0/replicas", 2.5), "spec.dataCenters[0].replicas: want an integer, got 2.5");
  EXPECT_EQ(with("/dataCenters/0/replicas", 1e30), "spec.dataCenters[0].replicas: want an integer, got 1e+30");
  EXPECT_EQ(with("/dataCenters/0/replicas", 4294967297),
            "spec.dataCenters[0].replicas: want an integer, got 4294967297");
  EXPECT_EQ(with("/sync", "fast"), "spec.sync: must be an object, not string");
  EXPECT_EQ(with("/sidecar", Json::array()), "spec.sidecar: must be an object, not array");
  EXPECT_EQ(with("/dataCenters/0/template/spec/containers", Json::object()),
            "spec.dataCenters[0].template.spec.containers: must be a list");
  EXPECT_EQ(with("/dataCenters/0/template/spec/containers/0/ports", Json::parse(R"([{"containerPort": "http"}])")),
            "spec.dataCenters[0].template.spec.containers[0].ports[0].containerPort: required: an integer");
  EXPECT_EQ(with("/dataCenters/0/template/spec/restartPolicy", 3),
            "spec.dataCenters[0].template.spec.restartPolicy: unknown 3; want Never or OnFailure");
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
