#include "operator/api/job_spec.h"

#include <algorithm>
#include <regex>
#include <set>
#include <type_traits>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "control/sync_schedule.h"
#include "core/json_integer.h"
#include "core/status_macros.h"

namespace geostorm::api {
namespace {

// The longest suffix the operator appends to "<job>-<dc>": "-gateway" (Services)
// and "-<index>" (pods, up to 1023). DNS labels end at 63 characters.
constexpr size_t kLongestSuffix = 8;
constexpr size_t kDnsLabel = 63;

absl::Status Invalid(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", why));
}

// Reads `obj[key]` as T if present; a wrong type is an error naming the field.
template <typename T>
absl::Status Read(const Json& obj, const char* key, const std::string& field, T* out) {
  if (!obj.is_object() || !obj.contains(key) || obj[key].is_null()) return absl::OkStatus();
  if constexpr (std::is_integral_v<T> && !std::is_same_v<T, bool>) {
    if (!HoldsInteger<T>(obj[key])) {
      return Invalid(absl::StrCat(field, ".", key), absl::StrCat("want an integer, got ", obj[key].dump()));
    }
  }
  try {
    *out = obj[key].get<T>();
  } catch (const Json::exception&) {
    return Invalid(absl::StrCat(field, ".", key), absl::StrCat("wrong type (", obj[key].type_name(), ")"));
  }
  return absl::OkStatus();
}

bool IsDnsLabel(const std::string& s) {
  static const std::regex kLabel("^[a-z0-9]([-a-z0-9]*[a-z0-9])?$");
  return !s.empty() && s.size() <= kDnsLabel && std::regex_match(s, kLabel);
}

// `obj[key]` when it is an object, {} when absent; anything else is an error.
absl::StatusOr<Json> Section(const Json& obj, const char* key, const std::string& field) {
  if (!obj.contains(key) || obj[key].is_null()) return Json::object();
  if (!obj[key].is_object()) return Invalid(field, absl::StrCat("must be an object, not ", obj[key].type_name()));
  return obj[key];
}

// A list field of the pod template: absent, or a list of objects.
absl::Status CheckList(const Json& pod, const char* list, const std::string& field) {
  if (!pod.contains(list)) return absl::OkStatus();
  if (!pod[list].is_array()) return Invalid(absl::StrCat(field, ".", list), "must be a list");
  for (size_t i = 0; i < pod[list].size(); ++i) {
    if (!pod[list][i].is_object()) return Invalid(absl::StrCat(field, ".", list, "[", i, "]"), "must be an object");
  }
  return absl::OkStatus();
}

// Names in a list must be DNS labels, unique in `seen` (shared by the lists the
// API server checks together), and not `reserved` (what the operator injects).
absl::Status CheckNames(const Json& items, const std::string& field, const std::set<std::string>& reserved,
                        std::set<std::string>& seen) {
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string where = absl::StrCat(field, "[", i, "].name");
    if (!items[i].contains("name") || !items[i]["name"].is_string()) return Invalid(where, "required");
    const std::string name = items[i]["name"];
    if (reserved.count(name) > 0) return Invalid(where, absl::StrCat("'", name, "' is the injected sidecar's"));
    if (!IsDnsLabel(name)) return Invalid(where, absl::StrCat("'", name, "' is not a DNS label"));
    if (!seen.insert(name).second) return Invalid(where, absl::StrCat("duplicate '", name, "'"));
  }
  return absl::OkStatus();
}

absl::Status CheckTemplate(const Json& pod_template, const std::string& field, const JobSpec& spec) {
  if (!pod_template.is_object() || !pod_template.contains("spec") || !pod_template["spec"].is_object()) {
    return Invalid(absl::StrCat(field, ".spec"), "required: a pod spec");
  }
  const Json& pod = pod_template["spec"];
  const std::string where = field + ".spec";
  for (const char* list : {"containers", "initContainers", "volumes"}) RETURN_IF_ERROR(CheckList(pod, list, where));
  if (!pod.contains("containers") || pod["containers"].empty()) {
    return Invalid(where + ".containers", "required: at least one worker container");
  }
  std::set<std::string> containers, volumes;
  for (const char* list : {"containers", "initContainers"}) {
    if (!pod.contains(list)) continue;
    RETURN_IF_ERROR(CheckNames(pod[list], absl::StrCat(where, ".", list), {kSidecarName}, containers));
    for (size_t i = 0; i < pod[list].size(); ++i) {
      const Json& c = pod[list][i];
      const std::string at = absl::StrCat(where, ".", list, "[", i, "]");
      if (!c.contains("image") || !c["image"].is_string() || c["image"].get<std::string>().empty()) {
        return Invalid(at + ".image", "required");
      }
      RETURN_IF_ERROR(CheckList(c, "ports", at));
      for (size_t p = 0; c.contains("ports") && p < c["ports"].size(); ++p) {
        const Json& port = c["ports"][p];
        const std::string port_field = absl::StrCat(at, ".ports[", p, "].containerPort");
        if (!port.contains("containerPort") || !HoldsInteger<int>(port["containerPort"])) {
          return Invalid(port_field, "required: an integer");
        }
        if (port["containerPort"] == spec.data_port || port["containerPort"] == spec.metrics_port) {
          return Invalid(port_field, absl::StrCat(port["containerPort"].get<int>(),
                                                  " is taken by the sidecar (spec.sidecar.ports)"));
        }
      }
    }
  }
  if (pod.contains("volumes")) {
    const std::set<std::string> injected(std::begin(kInjectedVolumes), std::end(kInjectedVolumes));
    RETURN_IF_ERROR(CheckNames(pod["volumes"], where + ".volumes", injected, volumes));
  }
  const Json restart = pod.value("restartPolicy", Json("Never"));
  if (restart == "Always") {
    return Invalid(where + ".restartPolicy", "Always: workers must be able to finish (Never or OnFailure)");
  }
  if (restart != "Never" && restart != "OnFailure") {
    return Invalid(where + ".restartPolicy", absl::StrCat("unknown ", restart.dump(), "; want Never or OnFailure"));
  }
  return absl::OkStatus();
}

absl::Status ParseDataCenters(const std::string& job_name, const Json& list, JobSpec* spec) {
  if (!list.is_array() || list.size() < 2) {
    return Invalid("spec.dataCenters", "at least two data centers (one needs no WAN synchronisation)");
  }
  std::set<std::string> names;
  for (size_t i = 0; i < list.size(); ++i) {
    const std::string field = absl::StrCat("spec.dataCenters[", i, "]");
    const Json& entry = list[i];
    DataCenterSpec dc;
    RETURN_IF_ERROR(Read(entry, "name", field, &dc.name));
    RETURN_IF_ERROR(Read(entry, "cluster", field, &dc.cluster));
    RETURN_IF_ERROR(Read(entry, "replicas", field, &dc.replicas));
    if (!IsDnsLabel(dc.name)) return Invalid(field + ".name", absl::StrCat("'", dc.name, "' is not a DNS label"));
    if (!names.insert(dc.name).second) return Invalid(field + ".name", absl::StrCat("duplicate '", dc.name, "'"));
    if (job_name.size() + 2 + kLongestSuffix > kDnsLabel) {
      return Invalid("metadata.name", absl::StrCat("'", job_name, "' is too long: the names of its Services add '-<dc>",
                                                   "-gateway' and must fit in 63 characters"));
    }
    if (job_name.size() + 1 + dc.name.size() + kLongestSuffix > kDnsLabel) {
      return Invalid(field + ".name",
                     absl::StrCat("'", job_name, "-", dc.name, "-gateway' would be longer than 63 characters"));
    }
    if (dc.replicas < 1 || dc.replicas > 1024) return Invalid(field + ".replicas", "must be 1..1024");
    dc.pod_template = entry.value("template", Json());
    spec->data_centers.push_back(std::move(dc));
  }
  return absl::OkStatus();
}

}  // namespace

int JobSpec::total_replicas() const {
  int total = 0;
  for (const DataCenterSpec& dc : data_centers) total += dc.replicas;
  return total;
}

absl::StatusOr<double> ParseDuration(const std::string& text) {
  static const std::regex kPart("([0-9]+(?:\\.[0-9]+)?)(ms|s|m|h)");
  double seconds = 0;
  size_t consumed = 0;
  for (auto it = std::sregex_iterator(text.begin(), text.end(), kPart); it != std::sregex_iterator(); ++it) {
    if (static_cast<size_t>(it->position()) != consumed) break;
    consumed += it->length();
    const double value = std::stod((*it)[1]);
    const std::string unit = (*it)[2];
    seconds += value * (unit == "ms" ? 0.001 : unit == "s" ? 1 : unit == "m" ? 60 : 3600);
  }
  if (text.empty() || consumed != text.size()) {
    return absl::InvalidArgumentError(absl::StrCat("'", text, "' is not a duration like 30s or 1m30s"));
  }
  return seconds;
}

absl::StatusOr<JobSpec> ParseJobSpec(const std::string& job_name, const Json& spec_json) {
  JobSpec spec;
  if (!spec_json.is_object()) return Invalid("spec", "required");
  if (const size_t size = spec_json.dump().size(); size > kMaxSpecBytes) {
    return Invalid("spec", absl::StrCat(size, " bytes; at most ", kMaxSpecBytes >> 20, " MiB"));
  }
  if (!IsDnsLabel(job_name)) return Invalid("metadata.name", absl::StrCat("'", job_name, "' is not a DNS label"));
  if (!absl::ascii_isalpha(static_cast<unsigned char>(job_name[0]))) {
    return Invalid("metadata.name",
                   absl::StrCat("'", job_name, "' must start with a letter: it begins its Services' names (DNS-1035)"));
  }

  ASSIGN_OR_RETURN(const Json sidecar, Section(spec_json, "sidecar", "spec.sidecar"));
  RETURN_IF_ERROR(Read(sidecar, "image", "spec.sidecar", &spec.sidecar_image));
  RETURN_IF_ERROR(Read(sidecar, "resources", "spec.sidecar", &spec.sidecar_resources));
  ASSIGN_OR_RETURN(const Json ports, Section(sidecar, "ports", "spec.sidecar.ports"));
  RETURN_IF_ERROR(Read(ports, "data", "spec.sidecar.ports", &spec.data_port));
  RETURN_IF_ERROR(Read(ports, "metrics", "spec.sidecar.ports", &spec.metrics_port));
  if (spec.data_port == spec.metrics_port) {
    return Invalid("spec.sidecar.ports.metrics", absl::StrCat(spec.metrics_port, " is also the data port"));
  }
  RETURN_IF_ERROR(
      ParseDataCenters(job_name, spec_json.contains("dataCenters") ? spec_json["dataCenters"] : Json(), &spec));
  for (size_t i = 0; i < spec.data_centers.size(); ++i) {
    RETURN_IF_ERROR(
        CheckTemplate(spec.data_centers[i].pod_template, absl::StrCat("spec.dataCenters[", i, "].template"), spec));
  }

  ASSIGN_OR_RETURN(const Json sync, Section(spec_json, "sync", "spec.sync"));
  RETURN_IF_ERROR(Read(sync, "strategy", "spec.sync", &spec.strategy));
  RETURN_IF_ERROR(Read(sync, "modelBytes", "spec.sync", &spec.model_bytes));
  RETURN_IF_ERROR(Read(sync, "chunkBytes", "spec.sync", &spec.chunk_bytes));
  if (spec.model_bytes < 4 || spec.model_bytes % 4 != 0) {
    return Invalid("spec.sync.modelBytes", "must be a positive multiple of 4 (float32 gradients)");
  }
  RETURN_IF_ERROR(Read(sync, "roots", "spec.sync", &spec.roots));
  RETURN_IF_ERROR(Read(sync, "multipath", "spec.sync", &spec.multipath));
  RETURN_IF_ERROR(Read(sync, "minImprovement", "spec.sync", &spec.min_improvement));
  RETURN_IF_ERROR(Read(sync, "mode", "spec.sync", &spec.sync_mode));
  RETURN_IF_ERROR(Read(sync, "localSteps", "spec.sync", &spec.local_steps));
  RETURN_IF_ERROR(Read(sync, "maxLocalSteps", "spec.sync", &spec.max_local_steps));
  RETURN_IF_ERROR(Read(sync, "globalLearningRate", "spec.sync", &spec.global_learning_rate));
  const std::vector<std::string>& modes = control::SyncModeNames();
  if (std::find(modes.begin(), modes.end(), spec.sync_mode) == modes.end()) {
    return Invalid("spec.sync.mode", absl::StrCat("unknown '", spec.sync_mode, "'; want bsp, esync or nbsync"));
  }
  if (spec.local_steps < 1 || spec.max_local_steps < spec.local_steps || spec.max_local_steps > 1000) {
    return Invalid("spec.sync.localSteps", absl::StrCat("want 1 <= localSteps (", spec.local_steps,
                                                        ") <= maxLocalSteps (", spec.max_local_steps, ") <= 1000"));
  }
  if (!(spec.global_learning_rate > 0)) return Invalid("spec.sync.globalLearningRate", "must be positive");
  static const std::set<std::string> kStrategies = {"star",     "sharded-ps",     "ring",    "mlnet",
                                                    "tsengine", "netstorm-paper", "netstorm"};
  if (kStrategies.count(spec.strategy) == 0)
    return Invalid("spec.sync.strategy", absl::StrCat("unknown '", spec.strategy, "'"));
  if (spec.roots < 1 || spec.roots > static_cast<int>(spec.data_centers.size())) {
    return Invalid("spec.sync.roots",
                   absl::StrCat(spec.roots, " roots but ", spec.data_centers.size(), " data centers"));
  }
  if (spec.chunk_bytes < 65536 || spec.chunk_bytes > (64 << 20))
    return Invalid("spec.sync.chunkBytes", "must be 64 KiB..64 MiB");
  if (sync.contains("reconcileInterval")) {
    std::string text;
    RETURN_IF_ERROR(Read(sync, "reconcileInterval", "spec.sync", &text));
    absl::StatusOr<double> seconds = ParseDuration(text);
    if (!seconds.ok()) return Invalid("spec.sync.reconcileInterval", std::string(seconds.status().message()));
    if (*seconds < 1) return Invalid("spec.sync.reconcileInterval", "must be at least 1s");
    spec.reconcile_interval_s = *seconds;
  }

  ASSIGN_OR_RETURN(const Json network, Section(spec_json, "network", "spec.network"));
  RETURN_IF_ERROR(Read(network, "prometheusUrl", "spec.network", &spec.prometheus_url));
  RETURN_IF_ERROR(Read(network, "gatewayServiceType", "spec.network", &spec.gateway_service_type));
  if (!spec.prometheus_url.empty() && spec.prometheus_url.rfind("http://", 0) != 0 &&
      spec.prometheus_url.rfind("https://", 0) != 0) {
    return Invalid("spec.network.prometheusUrl", "want http:// or https://");
  }

  ASSIGN_OR_RETURN(const Json run, Section(spec_json, "runPolicy", "spec.runPolicy"));
  RETURN_IF_ERROR(Read(run, "backoffLimit", "spec.runPolicy", &spec.backoff_limit));
  RETURN_IF_ERROR(Read(run, "cleanPodPolicy", "spec.runPolicy", &spec.clean_pod_policy));
  RETURN_IF_ERROR(Read(run, "suspend", "spec.runPolicy", &spec.suspend));
  int64_t value = 0;
  if (run.contains("activeDeadlineSeconds")) {
    RETURN_IF_ERROR(Read(run, "activeDeadlineSeconds", "spec.runPolicy", &value));
    spec.active_deadline_s = value;
  }
  if (run.contains("ttlSecondsAfterFinished")) {
    RETURN_IF_ERROR(Read(run, "ttlSecondsAfterFinished", "spec.runPolicy", &value));
    spec.ttl_after_finished_s = value;
  }
  if (spec.backoff_limit < 0) return Invalid("spec.runPolicy.backoffLimit", "must be >= 0");
  if (spec.clean_pod_policy != "None" && spec.clean_pod_policy != "Running" && spec.clean_pod_policy != "All") {
    return Invalid("spec.runPolicy.cleanPodPolicy", absl::StrCat("unknown '", spec.clean_pod_policy, "'"));
  }
  return spec;
}

}  // namespace geostorm::api
