// Leader election on a coordination.k8s.io/v1 Lease, as client-go does it: the
// holder renews spec.renewTime; another replica takes over once the Lease has not
// changed for leaseDurationSeconds by its own clock (so clocks need not agree).
// Writes use resourceVersion, so two candidates cannot both win. Not thread-safe:
// one thread runs Acquire, then KeepRenewing.
//
//   LeaderElector elector(client, {"geostorm-system", "geostorm-operator", "pod-a"});
//   if (elector.Acquire(&stop)) { start controllers; elector.KeepRenewing(&stop); }
#ifndef GEOSTORM_OPERATOR_LEADER_ELECTION_H_
#define GEOSTORM_OPERATOR_LEADER_ELECTION_H_

#include <chrono>
#include <string>

#include "absl/status/statusor.h"
#include "operator/kube/client.h"

namespace geostorm::manager {

struct LeaderElectionOptions {
  std::string lease_namespace = "geostorm-system";
  std::string lease_name = "geostorm-operator";
  std::string identity;
  std::chrono::milliseconds lease_duration{15000};
  std::chrono::milliseconds retry_period{2000};
  std::chrono::milliseconds renew_deadline{10000};  // give up leading after failing to renew this long
};

class LeaderElector {
 public:
  LeaderElector(kube::Client& client, LeaderElectionOptions options);

  // Blocks until this replica holds the Lease (true), or `stop` (false).
  bool Acquire(kube::StopToken* stop);
  // One attempt. true: this replica holds the Lease afterwards; false: another
  // replica holds it (or won a race to write it). An error is a failed read or
  // write, with the server's reason (a 403 from RBAC, say): Acquire and
  // KeepRenewing log it (once per distinct error), and never take it for
  // "another replica leads".
  [[nodiscard]] absl::StatusOr<bool> TryAcquireOrRenew();
  // Renews every retry period. Returns when leadership is lost (false) or on
  // `stop` (true), after releasing the Lease so a standby takes over at once.
  bool KeepRenewing(kube::StopToken* stop);

 private:
  bool Attempt();  // TryAcquireOrRenew, with its error logged and kept
  void Release();
  bool Sleep(kube::StopToken* stop);

  kube::Client& client_;
  const LeaderElectionOptions options_;
  std::string observed_version_;
  std::chrono::steady_clock::time_point observed_at_{};
  absl::Status last_error_;  // of the last attempt, to log each distinct error once
};

}  // namespace geostorm::manager

#endif  // GEOSTORM_OPERATOR_LEADER_ELECTION_H_
