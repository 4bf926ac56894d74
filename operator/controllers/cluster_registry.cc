#include "operator/controllers/cluster_registry.h"

#include "absl/strings/str_cat.h"
#include "operator/controllers/desired_state.h"

namespace geostorm::controllers {
namespace {

std::string ConfigFingerprint(const kube::ClusterConfig& c) {
  return absl::StrCat(c.server, "|", c.ca_pem, "|", c.client_cert_pem, "|", c.client_key_pem, "|", c.token, "|",
                      c.token_file, "|", c.insecure_skip_tls_verify);
}

}  // namespace

std::map<std::string, kube::Json> MemberCluster::JobPods(const std::string& ns, const std::string& job,
                                                         const std::string& dc) const {
  std::map<std::string, kube::Json> found;
  for (kube::Json& pod : pods->ByIndex(absl::StrCat(ns, "/", job))) {
    if (!dc.empty() && pod["metadata"]["labels"].value(kDcLabel, "") != dc) continue;
    const std::string name = pod["metadata"].value("name", "");
    found[name] = std::move(pod);
  }
  return found;
}

kube::Informer& MemberCluster::informer(const kube::Resource& r) const {
  if (r.plural == kube::kPods.plural) return *pods;
  if (r.plural == kube::kServices.plural) return *services;
  if (r.plural == kube::kConfigMaps.plural) return *configmaps;
  return *secrets;
}

absl::Status MemberCluster::EnsureNamespace(const std::string& ns) const {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (namespaces_.count(ns) > 0) return absl::OkStatus();
  }
  absl::StatusOr<kube::Json> existing = client->Get(kube::kNamespaces, "", ns);
  if (!existing.ok() && absl::IsNotFound(existing.status()))
    existing = client->Apply(kube::kNamespaces, DesiredNamespace(ns));
  if (!existing.ok()) return existing.status();
  std::lock_guard<std::mutex> lock(mu_);
  namespaces_.insert(ns);
  return absl::OkStatus();
}

ClusterRegistry::ClusterRegistry(OnChange on_change, kube::InformerOptions informer_options,
                                 kube::ClientOptions client_options, std::chrono::milliseconds probe_timeout)
    : on_change_(std::move(on_change)),
      informer_options_(informer_options),
      client_options_(std::move(client_options)),
      probe_options_(client_options_) {
  probe_options_.timeout = probe_timeout;
  probe_options_.max_attempts = 1;
}

ClusterRegistry::~ClusterRegistry() {
  std::map<std::string, std::shared_ptr<MemberCluster>> members;
  {
    std::lock_guard<std::mutex> lock(mu_);
    members.swap(members_);
  }
  for (auto& [name, member] : members) {
    for (const kube::Resource* r : kManaged) member->informer(*r).Stop();
  }
}

absl::Status ClusterRegistry::Set(const std::string& name, const kube::ClusterConfig& config,
                                  std::chrono::milliseconds sync_timeout) {
  const std::string fingerprint = ConfigFingerprint(config);
  std::shared_ptr<const MemberCluster> ready;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = members_.find(name);
    if (it != members_.end() && it->second->config_fingerprint == fingerprint && errors_.count(name) == 0) {
      ready = it->second;
    }
  }
  if (ready) return ready->probe->GetPath("/version").status();  // after an error, it is built anew
  absl::StatusOr<std::unique_ptr<kube::Client>> client = kube::MakeClient(config, client_options_);
  if (!client.ok()) return client.status();
  absl::StatusOr<std::unique_ptr<kube::Client>> probe = kube::MakeClient(config, probe_options_);
  if (!probe.ok()) return probe.status();
  if (absl::StatusOr<kube::Json> version = (*probe)->GetPath("/version"); !version.ok()) return version.status();

  auto member = std::make_shared<MemberCluster>();
  member->name = name;
  member->client = *std::move(client);
  member->probe = *std::move(probe);
  member->config_fingerprint = fingerprint;
  const std::string selector = absl::StrCat(kManagedByLabel, "=", kManagedBy);
  auto make = [&](const kube::Resource& r) {
    auto informer = std::make_unique<kube::Informer>(*member->client, r, "", selector, informer_options_);
    informer->SetIndex(JobKeyOf);
    informer->AddHandler([this](const kube::Json& object, bool) {
      if (std::optional<std::string> key = JobKeyOf(object)) on_change_(*key);
    });
    informer->Start();
    return informer;
  };
  member->pods = make(kube::kPods);
  member->services = make(kube::kServices);
  member->secrets = make(kube::kSecrets);
  member->configmaps = make(kube::kConfigMaps);
  for (const kube::Resource* r : kManaged) {
    if (!member->informer(*r).WaitForSync(sync_timeout)) {
      return absl::UnavailableError(
          absl::StrCat("cluster '", name, "' at ", config.server, ": informers did not sync"));
    }
  }
  std::shared_ptr<MemberCluster> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    old = members_[name];
    members_[name] = member;
    errors_.erase(name);
  }
  return absl::OkStatus();
}

void ClusterRegistry::SetError(const std::string& name, const std::string& reason) {
  std::lock_guard<std::mutex> lock(mu_);
  errors_[name] = reason;
}

void ClusterRegistry::Remove(const std::string& name) {
  std::shared_ptr<MemberCluster> old;
  {
    std::lock_guard<std::mutex> lock(mu_);
    errors_.erase(name);
    auto it = members_.find(name);
    if (it == members_.end()) return;
    old = it->second;
    members_.erase(it);
  }
}

absl::StatusOr<std::shared_ptr<const MemberCluster>> ClusterRegistry::Get(const std::string& name) const {
  std::lock_guard<std::mutex> lock(mu_);
  if (auto error = errors_.find(name); error != errors_.end()) {
    return absl::FailedPreconditionError(absl::StrCat("GeoCluster '", name, "' is not ready: ", error->second));
  }
  auto it = members_.find(name);
  if (it == members_.end()) return absl::NotFoundError(absl::StrCat("GeoCluster '", name, "' not found"));
  return std::shared_ptr<const MemberCluster>(it->second);
}

std::vector<std::shared_ptr<const MemberCluster>> ClusterRegistry::All() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<std::shared_ptr<const MemberCluster>> all;
  for (const auto& [name, member] : members_) all.push_back(member);
  return all;
}

}  // namespace geostorm::controllers
