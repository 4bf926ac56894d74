// GeoTrainingJob's spec as a typed value, and the checks the CRD schema cannot
// express (or that a schema-less API server would let through). Every error names
// the field: "spec.sync.roots: 3 roots but only 2 data centers". Pure; thread-safe.
//
//   absl::StatusOr<JobSpec> spec = ParseJobSpec("resnet", job["spec"]);
#ifndef GEOSTORM_OPERATOR_API_JOB_SPEC_H_
#define GEOSTORM_OPERATOR_API_JOB_SPEC_H_

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace geostorm::api {

using Json = nlohmann::json;

struct DataCenterSpec {
  std::string name;
  std::string cluster;  // a GeoCluster; empty: the job's own cluster
  int replicas = 1;
  Json pod_template;  // core/v1 PodTemplateSpec
};

struct JobSpec {
  std::vector<DataCenterSpec> data_centers;
  // sync
  std::string strategy = "netstorm";
  int64_t model_bytes = 100 << 20;
  int64_t chunk_bytes = 2 << 20;
  int roots = 2;
  bool multipath = true;
  double reconcile_interval_s = 30;
  double min_improvement = 0.1;
  std::string sync_mode = "bsp";    // bsp | esync | nbsync (control/sync_schedule.h)
  int local_steps = 1;              // esync: the slowest DC's local steps per synchronisation
  int max_local_steps = 32;         // esync: no DC takes more
  double global_learning_rate = 1;  // esync, nbsync: step size of the averaged delta
  // network
  std::string prometheus_url;
  std::string gateway_service_type = "ClusterIP";
  // sidecar
  std::string sidecar_image = "ghcr.io/geostorm/sidecar:0.1";
  Json sidecar_resources = Json::object();
  int data_port = 7070;
  int metrics_port = 9464;
  // runPolicy
  int backoff_limit = 3;
  std::optional<int64_t> active_deadline_s;
  std::optional<int64_t> ttl_after_finished_s;
  std::string clean_pod_policy = "Running";  // None | Running | All
  bool suspend = false;

  int total_replicas() const;
};

inline constexpr char kSidecarName[] = "geostorm-sidecar";
// The volumes the operator adds to every worker pod (controllers/desired_state.h).
inline constexpr const char* kInjectedVolumes[] = {"geostorm-run", "geostorm-tls", "geostorm-policy"};

// A spec larger than this (as compact JSON) is refused: the pod templates of a few
// DCs take kilobytes, and the API server keeps no object over 1.5 MiB anyway.
inline constexpr size_t kMaxSpecBytes = 1 << 20;

// `job_name` is checked too: it prefixes every object the job makes.
[[nodiscard]] absl::StatusOr<JobSpec> ParseJobSpec(const std::string& job_name, const Json& spec);

// "30s", "1m30s", "250ms" -> seconds.
[[nodiscard]] absl::StatusOr<double> ParseDuration(const std::string& text);

}  // namespace geostorm::api

#endif  // GEOSTORM_OPERATOR_API_JOB_SPEC_H_
