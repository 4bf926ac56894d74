// geostorm-sidecar: runs beside a worker; see sidecar.h.
//   geostorm-sidecar --dc dc1 --policy policy.yaml --listen 0.0.0.0:7000
//       --peer dc2=10.0.0.2:7000 --worker-listen unix:/run/geostorm/worker.sock --insecure
#include <spdlog/spdlog.h>

#include <malloc.h>
#include <pthread.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "CLI/CLI.hpp"
#include "absl/synchronization/mutex.h"
#include "control/sync_schedule.h"
#include "core/policy/policy_codec.h"
#include "sidecar/engine/aggregator.h"
#include "sidecar/sidecar.h"

namespace {

absl::StatusOr<geostorm::core::Policy> LoadPolicy(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("--policy: cannot read '" + path + "'");
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  const bool json = s.find_first_not_of(" \t\r\n") != std::string::npos && s[s.find_first_not_of(" \t\r\n")] == '{';
  absl::StatusOr<geostorm::core::Policy> p = json ? geostorm::core::FromJson(s) : geostorm::core::FromYaml(s);
  if (!p.ok()) return absl::InvalidArgumentError(path + ": " + std::string(p.status().message()));
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  // Debian builds abseil with its Mutex deadlock detector on; gRPC takes absl
  // Mutexes on every call, and the detector's lock graph was 2-5% of the CPU.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  // glibc gives each allocating thread a heap arena of its own, up to 8 per core,
  // and each arena keeps the most its threads ever held (chunk memory is kept for
  // reuse: KeepChunkMemory). So chunks freed by one gRPC thread could not serve
  // another's: in the 30-minute soak a gateway's RSS rose by a third while its live
  // heap stayed at about 2.5 MB, and with a 1 GB model, two arenas still peaked at
  // 1.16-1.61 GB for a live heap under 1 GB (heaptrack). One arena peaks at the
  // live heap, and was no slower (docs/architecture.md). MALLOC_ARENA_MAX, when
  // set, still decides.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr) mallopt(M_ARENA_MAX, 1);
  CLI::App app{"geostorm-sidecar: chunked aggregate-forward of gradients between data centers"};
  geostorm::sidecar::SidecarConfig c;
  std::string policy_file;
  std::vector<std::string> peers;
  int timeout_ms = 0;
  app.add_option("--job", c.job, "job name; chunks of other jobs are refused");
  app.add_option("--dc", c.data_center, "this sidecar's data center")->required();
  auto* policy_flag = app.add_option("--policy", policy_file, "policy file from `geostorm plan --yaml` (or --json)");
  auto* controller_flag = app.add_option("--controller", c.controller,
                                         "HOST:PORT of the policy controller (gateways): policies come from it");
  policy_flag->excludes(controller_flag);
  app.add_option("--peer", peers, "DC=HOST:PORT of a peer gateway (repeat)");
  app.add_option("--listen", c.listen, "data-plane address (gateways)");
  app.add_option("--worker-listen", c.worker_listen, "worker API: unix:/path or 127.0.0.1:PORT");
  app.add_option("--gateway", c.gateway, "HOST:PORT of the DC's gateway: run as a member sidecar");
  app.add_option("--member-id", c.member_id, "a member's name");
  app.add_option("--workers", c.local_workers, "workers in this DC (gateway)")->check(CLI::PositiveNumber);
  app.add_option("--total-workers", c.total_workers, "workers in the job (default: --workers x DCs)");
  app.add_option("--timeout-ms", timeout_ms,
                 "an iteration fails after this long (default: 5x the policy's predicted time, at least 30 s)")
      ->check(CLI::PositiveNumber);
  app.add_option("--min-window-bytes", c.min_window_bytes, "per-peer window of unacknowledged bytes (at least)");
  int64_t max_queue_mb = c.max_queue_bytes >> 20;
  app.add_option("--max-queue-mb", max_queue_mb, "per-peer send queue bound in MiB")->check(CLI::Range(1, 1 << 20));
  app.add_option("--sync-mode", c.sync_mode, "how the job's workers synchronise (told to them)")
      ->check(CLI::IsMember(geostorm::control::SyncModeNames()));
  app.add_option("--events", c.events_file, "append JSON lines of iterations and policy commits to this file");
  app.add_option("--metrics", c.metrics_listen, "HOST:PORT for Prometheus /metrics");
  app.add_flag("--insecure", c.insecure, "plaintext gRPC (local runs only)");
  app.add_option("--tls-cert", c.tls.cert, "PEM certificate");
  app.add_option("--tls-key", c.tls.key, "PEM private key");
  app.add_option("--tls-ca", c.tls.ca, "PEM CA bundle that signs peers' certificates");
  int tls_reload_s = 10;
  app.add_option("--tls-reload-s", tls_reload_s, "read the TLS files again this often (renewed certificates)")
      ->check(CLI::Range(1, 86400));
  int inject_delay_ms = 0;
  app.add_option("--inject-delay-ms", inject_delay_ms, "testing: delay each chunk sent to a peer by up to this long");
  app.add_flag("--inject-ignore-prepare", c.ignore_prepare, "testing: never acknowledge a rollout");
  CLI11_PARSE(app, argc, argv);
  c.tls.reload = std::chrono::seconds(tls_reload_s);
  spdlog::flush_on(spdlog::level::info);  // logs are files that people and tests read while it runs
  if (policy_file.empty() && c.controller.empty() && c.gateway.empty()) {
    spdlog::error("give --policy FILE, or --controller HOST:PORT (gateways), or --gateway HOST:PORT (members)");
    return 2;
  }
  c.inject_delay = std::chrono::milliseconds(inject_delay_ms);
  c.max_queue_bytes = max_queue_mb << 20;

  c.timeout = std::chrono::milliseconds(timeout_ms);
  for (const std::string& p : peers) {
    const size_t eq = p.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == p.size()) {
      spdlog::error("--peer '{}': expected DC=HOST:PORT", p);
      return 2;
    }
    c.peers[p.substr(0, eq)] = p.substr(eq + 1);
  }
  if (!policy_file.empty()) {
    absl::StatusOr<geostorm::core::Policy> policy = LoadPolicy(policy_file);
    if (!policy.ok()) {
      spdlog::error("{}", std::string(policy.status().message()));
      return 2;
    }
    c.policy = *std::move(policy);
  }
  geostorm::sidecar::KeepChunkMemory();
  // SIGTERM and SIGINT are taken by one thread with sigwait, so every other thread
  // (gRPC's among them) must block them from the start.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  auto sidecar = geostorm::sidecar::Sidecar::Start(std::move(c));
  if (!sidecar.ok()) {
    spdlog::error("{}", std::string(sidecar.status().message()));
    return 2;
  }
  // Print the bound ports so that launchers using port 0 can find them.
  std::printf("data_port=%d metrics_port=%d\n", (*sidecar)->data_port(), (*sidecar)->metrics_port());
  std::fflush(stdout);
  int signal = 0;
  sigwait(&stop_signals, &signal);
  spdlog::info("signal {}: shutting down", signal);
  (*sidecar)->Shutdown();
  return 0;
}
