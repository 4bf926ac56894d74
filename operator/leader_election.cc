#include "operator/leader_election.h"

#include <spdlog/spdlog.h>

#include "operator/api/conditions.h"

namespace geostorm::manager {

using kube::Json;

LeaderElector::LeaderElector(kube::Client& client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)) {}

bool LeaderElector::Sleep(kube::StopToken* stop) { return !stop->Wait(options_.retry_period); }

bool LeaderElector::TryAcquireOrRenew() {
  const auto now = api::Clock::now();
  const std::string now_text = api::FormatMicroTime(now);
  const int duration_s = static_cast<int>((options_.lease_duration.count() + 999) / 1000);
  absl::StatusOr<Json> lease = client_.Get(kube::kLeases, options_.lease_namespace, options_.lease_name);
  if (!lease.ok()) {
    if (!absl::IsNotFound(lease.status())) {
      spdlog::warn("leader election: {}", std::string(lease.status().message()));
      return false;
    }
    const Json fresh = {{"apiVersion", "coordination.k8s.io/v1"},
                        {"kind", "Lease"},
                        {"metadata", {{"name", options_.lease_name}, {"namespace", options_.lease_namespace}}},
                        {"spec",
                         {{"holderIdentity", options_.identity},
                          {"leaseDurationSeconds", duration_s},
                          {"acquireTime", now_text},
                          {"renewTime", now_text},
                          {"leaseTransitions", 0}}}};
    return client_.Create(kube::kLeases, options_.lease_namespace, fresh).ok();
  }
  Json& spec = (*lease)["spec"];
  const std::string holder = spec.value("holderIdentity", "");
  const std::string version = (*lease)["metadata"].value("resourceVersion", "");
  const auto local_now = std::chrono::steady_clock::now();
  if (version != observed_version_) {
    observed_version_ = version;
    observed_at_ = local_now;
  }
  const auto their_duration = std::chrono::seconds(spec.value("leaseDurationSeconds", duration_s));
  const bool expired = local_now - observed_at_ > their_duration;
  if (holder != options_.identity && !holder.empty() && !expired) return false;
  if (holder != options_.identity) {
    spec["acquireTime"] = now_text;
    spec["leaseTransitions"] = spec.value("leaseTransitions", 0) + 1;
  }
  spec["holderIdentity"] = options_.identity;
  spec["leaseDurationSeconds"] = duration_s;
  spec["renewTime"] = now_text;
  absl::StatusOr<Json> written = client_.Replace(kube::kLeases, *lease);  // 409 if someone else wrote first
  if (!written.ok()) return false;
  observed_version_ = (*written)["metadata"].value("resourceVersion", "");
  observed_at_ = local_now;
  return true;
}

bool LeaderElector::Acquire(kube::StopToken* stop) {
  spdlog::info("leader election: {} wants Lease {}/{}", options_.identity, options_.lease_namespace,
               options_.lease_name);
  while (!stop->stopped()) {
    if (TryAcquireOrRenew()) {
      spdlog::info("leader election: {} is the leader", options_.identity);
      return true;
    }
    if (!Sleep(stop)) break;
  }
  return false;
}

bool LeaderElector::KeepRenewing(kube::StopToken* stop) {
  auto renewed = std::chrono::steady_clock::now();
  while (Sleep(stop)) {
    if (TryAcquireOrRenew()) {
      renewed = std::chrono::steady_clock::now();
    } else if (std::chrono::steady_clock::now() - renewed > options_.renew_deadline) {
      spdlog::error("leader election: {} could not renew the Lease for {} ms; stepping down", options_.identity,
                    options_.renew_deadline.count());
      return false;
    }
  }
  Release();
  return true;
}

void LeaderElector::Release() {
  absl::StatusOr<Json> released =
      kube::Update(client_, kube::kLeases, options_.lease_namespace, options_.lease_name, [&](Json& lease) {
        if (lease["spec"].value("holderIdentity", "") != options_.identity) return false;
        lease["spec"]["holderIdentity"] = "";
        return true;
      });
  if (released.ok()) spdlog::info("leader election: {} released the Lease", options_.identity);
}

}  // namespace geostorm::manager
