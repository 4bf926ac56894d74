#include "operator/leader_election.h"

#include <spdlog/spdlog.h>

#include "absl/strings/str_cat.h"
#include "operator/api/conditions.h"

namespace geostorm::manager {

using kube::Json;

LeaderElector::LeaderElector(kube::Client& client, LeaderElectionOptions options)
    : client_(client), options_(std::move(options)) {}

bool LeaderElector::Sleep(kube::StopToken* stop) { return !stop->Wait(options_.retry_period); }

absl::StatusOr<bool> LeaderElector::TryAcquireOrRenew() {
  const auto now = api::Clock::now();
  const std::string now_text = api::FormatMicroTime(now);
  const int duration_s = static_cast<int>((options_.lease_duration.count() + 999) / 1000);
  absl::StatusOr<Json> lease = client_.Get(kube::kLeases, options_.lease_namespace, options_.lease_name);
  if (!lease.ok()) {
    if (!absl::IsNotFound(lease.status())) {
      return absl::Status(lease.status().code(), absl::StrCat("reading Lease ", options_.lease_namespace, "/",
                                                              options_.lease_name, ": ", lease.status().message()));
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
    absl::StatusOr<Json> created = client_.Create(kube::kLeases, options_.lease_namespace, fresh);
    if (absl::IsAlreadyExists(created.status())) return false;  // another replica created it first
    if (!created.ok()) {
      return absl::Status(created.status().code(), absl::StrCat("creating Lease ", options_.lease_namespace, "/",
                                                                options_.lease_name, ": ", created.status().message()));
    }
    return true;
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
  absl::StatusOr<Json> written = client_.Replace(kube::kLeases, *lease);
  if (absl::IsAborted(written.status())) return false;  // 409: another replica wrote first
  if (!written.ok()) {
    return absl::Status(written.status().code(), absl::StrCat("updating Lease ", options_.lease_namespace, "/",
                                                              options_.lease_name, ": ", written.status().message()));
  }
  observed_version_ = (*written)["metadata"].value("resourceVersion", "");
  observed_at_ = local_now;
  return true;
}

bool LeaderElector::Attempt() {
  absl::StatusOr<bool> held = TryAcquireOrRenew();
  if (!held.ok()) {
    if (held.status() != last_error_) spdlog::error("leader election: {}", std::string(held.status().message()));
    last_error_ = held.status();
    return false;
  }
  last_error_ = absl::OkStatus();
  return *held;
}

bool LeaderElector::Acquire(kube::StopToken* stop) {
  spdlog::info("leader election: {} wants Lease {}/{}", options_.identity, options_.lease_namespace,
               options_.lease_name);
  while (!stop->stopped()) {
    if (Attempt()) {
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
    if (Attempt()) {
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
  if (released.ok()) {
    spdlog::info("leader election: {} released the Lease", options_.identity);
  } else if (!absl::IsNotFound(released.status())) {
    spdlog::warn("leader election: {} could not release the Lease (a standby takes over when it expires): {}",
                 options_.identity, std::string(released.status().message()));
  }
}

}  // namespace geostorm::manager
