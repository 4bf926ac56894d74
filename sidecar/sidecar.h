// Sidecar: the process beside each worker. Either
//   - a gateway (one per DC): runs the Aggregator, serves the DataPlane to peer
//     gateways and member sidecars, and streams chunks to its peers; or
//   - a member: forwards its worker's chunks to the DC's gateway (Join stream)
//     and hands the results back.
// Both serve the Worker API to their local workers.
//
//   absl::StatusOr<std::unique_ptr<Sidecar>> s = Sidecar::Start(config);
//   (*s)->Wait();
// Thread-safe; Shutdown() may be called from any thread.
#ifndef GEOSTORM_SIDECAR_SIDECAR_H_
#define GEOSTORM_SIDECAR_SIDECAR_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "control/credentials.h"
#include "core/policy/policy.h"

namespace geostorm::sidecar {

using control::TlsFiles;

struct SidecarConfig {
  std::string job = "job";
  std::string data_center;
  core::Policy policy;                       // from a file; or, with `controller`, left empty
  std::string controller;                    // host:port: take policies from the controller (gateways)
  std::map<std::string, std::string> peers;  // peer gateway DC -> host:port
  std::string listen = "127.0.0.1:0";        // DataPlane (gateways only)
  std::string worker_listen;                 // Worker API: unix:/path, or loopback host:port
  std::string gateway;                       // set: run as a member of that gateway
  std::string member_id;                     // a member's name in its gateway's logs
  int local_workers = 1;                     // W: workers of this DC (gateway)
  int total_workers = 0;                     // all workers of the job; 0 = W * DCs
  // An iteration fails after this long; 0 = IterationTimeout of the policy in force.
  std::chrono::milliseconds timeout{0};
  int64_t max_queue_bytes = 64 << 20;  // per peer link
  // Per peer link: the least window of bytes sent and not yet acknowledged (see
  // PeerLink). On the emulated klonet-9dc, unbounded (chunks queued in socket
  // buffers, out of priority order) ran netstorm at 1.8 T_min; 256 KiB at 1.36.
  int64_t min_window_bytes = 256 << 10;
  std::string metrics_listen;     // host:port for /metrics; empty = off
  std::string sync_mode = "bsp";  // told to workers (control/sync_schedule.h)
  std::string events_file;        // JSON lines of iterations and commits (event_log.h); empty = off
  bool insecure = false;
  TlsFiles tls;
  // Fault injection for tests: each chunk sent to a peer waits a random time up to
  // this long; a gateway that ignores Prepare never acknowledges a rollout.
  std::chrono::milliseconds inject_delay{0};
  bool ignore_prepare = false;
};

// An iteration's time limit: `fixed` when set, or else kTimeoutFactor times the
// policy's predicted time, and never less than kTimeoutFloor. A 1 GB model on a
// 100 Mbit/s WAN must not fail by default, nor a dead peer hang a job for long.
inline constexpr std::chrono::seconds kTimeoutFloor{30};
inline constexpr double kTimeoutFactor = 5;
std::chrono::milliseconds IterationTimeout(std::chrono::milliseconds fixed, const core::Policy& policy);

class Sidecar {
 public:
  virtual ~Sidecar() = default;

  // Validates the configuration (naming the bad field), binds, and serves.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<Sidecar>> Start(SidecarConfig config);

  // The bound DataPlane port (gateways) and metrics port, for `:0` listens.
  virtual int data_port() const = 0;
  virtual int metrics_port() const = 0;
  virtual void Wait() = 0;
  virtual void Shutdown() = 0;
};

}  // namespace geostorm::sidecar

#endif  // GEOSTORM_SIDECAR_SIDECAR_H_
