#include "operator/controllers/cluster_controller.h"

#include <spdlog/spdlog.h>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "operator/api/conditions.h"

namespace geostorm::controllers {
namespace {

using kube::Json;

std::string Decoded(const Json& data, const std::string& key) {
  std::string out;
  if (data.contains(key) && data[key].is_string()) absl::Base64Unescape(data[key].get<std::string>(), &out);
  return out;
}

}  // namespace

ClusterController::ClusterController(kube::Client& host, kube::Informer& clusters, ClusterRegistry& registry,
                                     EventRecorder& events, std::function<void()> on_ready_change,
                                     ClusterControllerOptions options)
    : host_(host),
      clusters_(clusters),
      registry_(registry),
      events_(events),
      on_ready_change_(std::move(on_ready_change)),
      options_(options) {}

absl::StatusOr<kube::ClusterConfig> ClusterController::ConfigFor(const Json& cluster) {
  const Json spec = cluster.value("spec", Json::object());
  const Json ref = spec.value("secretRef", Json::object());
  const std::string ns = ref.value("namespace", ""), name = ref.value("name", "");
  if (ns.empty() || name.empty()) return absl::InvalidArgumentError("spec.secretRef: needs name and namespace");
  absl::StatusOr<Json> secret = host_.Get(kube::kSecrets, ns, name);
  if (!secret.ok()) {
    if (absl::IsNotFound(secret.status())) {
      return absl::NotFoundError(absl::StrCat("spec.secretRef: Secret ", ns, "/", name, " not found"));
    }
    return secret.status();
  }
  const Json data = secret->value("data", Json::object());
  const std::string where = absl::StrCat("Secret ", ns, "/", name);
  if (data.contains("kubeconfig")) {
    absl::StatusOr<kube::ClusterConfig> config = kube::ParseKubeconfig(Decoded(data, "kubeconfig"), "", "");
    if (!config.ok())
      return absl::InvalidArgumentError(absl::StrCat(where, " key kubeconfig: ", config.status().message()));
    return config;
  }
  kube::ClusterConfig config;
  config.token = Decoded(data, "token");
  config.ca_pem = Decoded(data, "ca.crt");
  config.server = spec.value("server", "");
  if (config.token.empty() || config.server.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": needs key 'kubeconfig', or key 'token' with spec.server set"));
  }
  return config;
}

bool ClusterController::Announce(const std::string& name, bool ready) {
  std::lock_guard<std::mutex> lock(announced_mu_);
  auto [it, added] = announced_.emplace(name, ready);
  if (!added && it->second == ready) return false;
  it->second = ready;
  return true;
}

absl::StatusOr<std::optional<std::chrono::milliseconds>> ClusterController::Reconcile(const std::string& name) {
  std::optional<Json> cluster = clusters_.Get("", name);
  const bool was_usable = registry_.Get(name).ok();
  if (!cluster) {
    registry_.Remove(name);
    {
      std::lock_guard<std::mutex> lock(announced_mu_);
      announced_.erase(name);
    }
    if (was_usable) on_ready_change_();
    return std::optional<std::chrono::milliseconds>();
  }
  absl::Status ready = absl::OkStatus();
  std::string server;
  absl::StatusOr<kube::ClusterConfig> config = ConfigFor(*cluster);
  if (config.ok()) {
    server = config->server;
    ready = registry_.Set(name, *config, options_.sync_timeout);
  } else {
    ready = config.status();
  }
  if (!ready.ok()) registry_.SetError(name, std::string(ready.message()));

  Json status = cluster->value("status", Json::object());
  const bool flipped =
      api::SetCondition(status["conditions"], "Ready", ready.ok(), ready.ok() ? "Connected" : "Unreachable",
                        ready.ok() ? absl::StrCat("API server ", server, " answers") : std::string(ready.message()),
                        cluster->at("metadata").value("generation", int64_t{1}), api::Clock::now());
  if (!server.empty()) status["server"] = server;
  if (flipped && Announce(name, ready.ok())) {
    if (ready.ok()) {
      spdlog::info("GeoCluster {}: ready", name);
    } else {
      spdlog::warn("GeoCluster {}: not ready: {}", name, std::string(ready.message()));
    }
    events_.Record(*cluster, ready.ok() ? "Normal" : "Warning", ready.ok() ? "Connected" : "Unreachable",
                   ready.ok() ? absl::StrCat("API server ", server, " answers") : std::string(ready.message()));
  }
  if (status != cluster->value("status", Json::object())) {
    absl::StatusOr<Json> patched = host_.MergePatch(kube::kGeoClusters, "", name, {{"status", status}}, true);
    if (!patched.ok()) return patched.status();
  }
  if (ready.ok() != was_usable) on_ready_change_();
  return std::optional<std::chrono::milliseconds>(ready.ok() ? options_.recheck : options_.retry);
}

}  // namespace geostorm::controllers
