#include "operator/controllers/desired_state.h"

#include <cinttypes>
#include <cstdio>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace geostorm::controllers {
namespace {

Json Labels(const JobRef& job, const std::string& dc) {
  Json labels = {{kManagedByLabel, kManagedBy}, {kJobNamespaceLabel, job.ns}, {kJobNameLabel, job.name}};
  if (!dc.empty()) labels[kDcLabel] = dc;
  return labels;
}

Json Metadata(const JobRef& job, const std::string& dc, const std::string& name) {
  return {{"name", name}, {"namespace", job.ns}, {"labels", Labels(job, dc)}};
}

std::string HeadlessName(const JobRef& job, const std::string& dc) { return absl::StrCat(job.name, "-", dc); }

Json SidecarContainer(const JobRef& job, const api::JobSpec& spec, size_t dc_index, int replica,
                      const std::map<std::string, std::string>& peers, const std::string& controller_address) {
  const api::DataCenterSpec& dc = spec.data_centers[dc_index];
  std::vector<std::string> args = {"--job",
                                   SidecarJobName(job),
                                   "--dc",
                                   dc.name,
                                   "--worker-listen",
                                   absl::StrCat("unix:", kSocketDir, "/worker.sock"),
                                   "--metrics",
                                   absl::StrCat("0.0.0.0:", spec.metrics_port),
                                   "--tls-cert",
                                   absl::StrCat(kTlsDir, "/tls.crt"),
                                   "--tls-key",
                                   absl::StrCat(kTlsDir, "/tls.key"),
                                   "--tls-ca",
                                   absl::StrCat(kTlsDir, "/ca.crt"),
                                   "--sync-mode",
                                   spec.sync_mode};
  if (replica == 0) {
    args.insert(args.end(), {"--listen", absl::StrCat("0.0.0.0:", spec.data_port), "--workers",
                             std::to_string(dc.replicas), "--total-workers", std::to_string(spec.total_replicas())});
    for (const auto& [peer, address] : peers) args.insert(args.end(), {"--peer", absl::StrCat(peer, "=", address)});
    // Live policies from the controller, or else the planned one from the DC's ConfigMap.
    if (controller_address.empty()) {
      args.insert(args.end(), {"--policy", absl::StrCat(kPolicyDir, "/policy.json")});
    } else {
      args.insert(args.end(), {"--controller", controller_address});
    }
  } else {
    // Members reach their gateway (replica 0) by its stable name under the headless Service.
    args.insert(args.end(), {"--gateway",
                             absl::StrCat(PodName(job, dc.name, 0), ".", HeadlessName(job, dc.name), ".", job.ns,
                                          ".svc:", spec.data_port),
                             "--member-id", PodName(job, dc.name, replica)});
  }
  Json container = {{"name", api::kSidecarName},
                    {"image", spec.sidecar_image},
                    {"restartPolicy", "Always"},
                    {"args", args},
                    {"ports",
                     {{{"name", "data"}, {"containerPort", spec.data_port}},
                      {{"name", "metrics"}, {"containerPort", spec.metrics_port}}}},
                    {"volumeMounts",
                     {{{"name", "geostorm-run"}, {"mountPath", kSocketDir}},
                      {{"name", "geostorm-tls"}, {"mountPath", kTlsDir}, {"readOnly", true}}}},
                    {"readinessProbe", {{"tcpSocket", {{"port", spec.metrics_port}}}, {"periodSeconds", 5}}}};
  if (!spec.sidecar_resources.empty()) container["resources"] = spec.sidecar_resources;
  if (replica == 0 && controller_address.empty()) {
    container["volumeMounts"].push_back({{"name", "geostorm-policy"}, {"mountPath", kPolicyDir}, {"readOnly", true}});
  }
  return container;
}

}  // namespace

std::string SidecarJobName(const JobRef& job) { return absl::StrCat(job.ns, ".", job.name); }

std::string JobSelector(const JobRef& job) {
  return absl::StrCat(kJobNamespaceLabel, "=", job.ns, ",", kJobNameLabel, "=", job.name);
}

std::optional<std::string> JobKeyOf(const Json& object) {
  const Json labels = object["metadata"].value("labels", Json::object());
  if (!labels.contains(kJobNameLabel) || !labels.contains(kJobNamespaceLabel)) return std::nullopt;
  return absl::StrCat(labels[kJobNamespaceLabel].get<std::string>(), "/", labels[kJobNameLabel].get<std::string>());
}

std::string GatewayServiceName(const JobRef& job, const std::string& dc) {
  return absl::StrCat(job.name, "-", dc, "-gateway");
}

std::string PodName(const JobRef& job, const std::string& dc, int replica) {
  return absl::StrCat(job.name, "-", dc, "-", replica);
}

Json DesiredNamespace(const std::string& ns) {
  Json object = {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", ns}}}};
  Stamp(object);
  return object;
}

Json HeadlessService(const JobRef& job, const api::JobSpec& spec, const std::string& dc) {
  Json object = {{"apiVersion", "v1"},
                 {"kind", "Service"},
                 {"metadata", Metadata(job, dc, HeadlessName(job, dc))},
                 {"spec",
                  {{"clusterIP", "None"},
                   {"publishNotReadyAddresses", true},
                   {"selector", {{kJobNamespaceLabel, job.ns}, {kJobNameLabel, job.name}, {kDcLabel, dc}}},
                   {"ports", {{{"name", "data"}, {"port", spec.data_port}}}}}}};
  Stamp(object);
  return object;
}

Json GatewayService(const JobRef& job, const api::JobSpec& spec, const std::string& dc) {
  Json object = {
      {"apiVersion", "v1"},
      {"kind", "Service"},
      {"metadata", Metadata(job, dc, GatewayServiceName(job, dc))},
      {"spec",
       {{"type", spec.gateway_service_type},
        {"selector", {{kJobNamespaceLabel, job.ns}, {kJobNameLabel, job.name}, {kDcLabel, dc}, {kReplicaLabel, "0"}}},
        {"ports",
         {{{"name", "data"}, {"port", spec.data_port}}, {{"name", "metrics"}, {"port", spec.metrics_port}}}}}}};
  Stamp(object);
  return object;
}

Json TlsSecret(const JobRef& job, const std::string& dc, const std::string& ca_pem, const KeyPair& pair) {
  Json object = {{"apiVersion", "v1"},
                 {"kind", "Secret"},
                 {"metadata", Metadata(job, dc, absl::StrCat(job.name, "-", dc, "-tls"))},
                 {"type", "kubernetes.io/tls"},
                 {"data",
                  {{"ca.crt", absl::Base64Escape(ca_pem)},
                   {"tls.crt", absl::Base64Escape(pair.cert_pem)},
                   {"tls.key", absl::Base64Escape(pair.key_pem)}}}};
  Stamp(object);
  return object;
}

Json WorkerPod(const JobRef& job, const api::JobSpec& spec, size_t dc_index, int replica,
               const std::map<std::string, std::string>& peers, const std::string& controller_address) {
  const api::DataCenterSpec& dc = spec.data_centers[dc_index];
  const std::string name = PodName(job, dc.name, replica);
  Json metadata = Metadata(job, dc.name, name);
  const Json template_meta = dc.pod_template.value("metadata", Json::object());
  const Json template_labels = template_meta.value("labels", Json::object());
  for (const auto& [key, value] : template_labels.items()) {
    if (!metadata["labels"].contains(key)) metadata["labels"][key] = value;
  }
  metadata["labels"][kReplicaLabel] = std::to_string(replica);
  if (template_meta.contains("annotations")) metadata["annotations"] = template_meta["annotations"];

  Json pod_spec = dc.pod_template["spec"];
  pod_spec["hostname"] = name;
  pod_spec["subdomain"] = HeadlessName(job, dc.name);
  if (!pod_spec.contains("restartPolicy")) pod_spec["restartPolicy"] = "Never";
  // What the worker library and its scripts read (examples/pytorch): the same as
  // under `geostorm local` (cli/job_launcher.h). Ranks count the DCs in spec order.
  int rank = replica;
  for (size_t i = 0; i < dc_index; ++i) rank += spec.data_centers[i].replicas;
  const Json env = {{{"name", "GEOSTORM_SIDECAR"}, {"value", absl::StrCat("unix:", kSocketDir, "/worker.sock")}},
                    {{"name", "GEOSTORM_JOB"}, {"value", SidecarJobName(job)}},
                    {{"name", "GEOSTORM_DC"}, {"value", dc.name}},
                    {{"name", "GEOSTORM_DC_INDEX"}, {"value", std::to_string(dc_index)}},
                    {{"name", "GEOSTORM_DCS"}, {"value", std::to_string(spec.data_centers.size())}},
                    {{"name", "GEOSTORM_REPLICA_INDEX"}, {"value", std::to_string(replica)}},
                    {{"name", "GEOSTORM_WORKER_INDEX"}, {"value", std::to_string(replica)}},
                    {{"name", "GEOSTORM_RANK"}, {"value", std::to_string(rank)}},
                    {{"name", "GEOSTORM_WORLD_SIZE"}, {"value", std::to_string(spec.total_replicas())}},
                    {{"name", "GEOSTORM_GLOBAL_LR"}, {"value", absl::StrCat(spec.global_learning_rate)}}};
  for (Json& container : pod_spec["containers"]) {
    for (const Json& e : env) container["env"].push_back(e);
    container["volumeMounts"].push_back({{"name", "geostorm-run"}, {"mountPath", kSocketDir}});
  }
  // Native sidecar: listed first among init containers, so it starts before the others.
  Json init = Json::array({SidecarContainer(job, spec, dc_index, replica, peers, controller_address)});
  for (const Json& c : pod_spec.value("initContainers", Json::array())) init.push_back(c);
  pod_spec["initContainers"] = init;
  pod_spec["volumes"].push_back({{"name", "geostorm-run"}, {"emptyDir", Json::object()}});
  pod_spec["volumes"].push_back(
      {{"name", "geostorm-tls"}, {"secret", {{"secretName", absl::StrCat(job.name, "-", dc.name, "-tls")}}}});
  if (replica == 0 && controller_address.empty()) {
    pod_spec["volumes"].push_back(
        {{"name", "geostorm-policy"}, {"configMap", {{"name", absl::StrCat(job.name, "-", dc.name, "-policy")}}}});
  }

  Json object = {{"apiVersion", "v1"}, {"kind", "Pod"}, {"metadata", metadata}, {"spec", pod_spec}};
  Stamp(object);
  return object;
}

std::optional<std::string> GatewayAddress(const Json& service, int port) {
  const Json spec = service.value("spec", Json::object());
  if (spec.value("type", "ClusterIP") == "LoadBalancer") {
    const Json ingress =
        service.value("status", Json::object()).value("loadBalancer", Json::object()).value("ingress", Json::array());
    for (const Json& entry : ingress) {
      const std::string host = entry.value("ip", entry.value("hostname", ""));
      if (!host.empty()) return absl::StrCat(host, ":", port);
    }
    return std::nullopt;
  }
  const std::string ip = spec.value("clusterIP", "");
  if (ip.empty() || ip == "None") return std::nullopt;
  return absl::StrCat(ip, ":", port);
}

std::string Fingerprint(const Json& object) {
  const Json annotations = object.value("metadata", Json::object()).value("annotations", Json::object());
  return annotations.value(kFingerprintAnnotation, "");
}

void Stamp(Json& object) {
  Json& metadata = object["metadata"];
  if (metadata.contains("annotations")) {
    metadata["annotations"].erase(kFingerprintAnnotation);
    if (metadata["annotations"].empty()) metadata.erase("annotations");
  }
  // FNV-1a over the canonical dump (nlohmann sorts object keys).
  uint64_t hash = 1469598103934665603ull;
  for (const unsigned char c : object.dump()) hash = (hash ^ c) * 1099511628211ull;
  char text[17];
  std::snprintf(text, sizeof(text), "%016" PRIx64, hash);
  object["metadata"]["annotations"][kFingerprintAnnotation] = text;
}

}  // namespace geostorm::controllers
