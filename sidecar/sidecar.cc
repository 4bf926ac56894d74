#include "sidecar/sidecar.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "control/event_log.h"
#include "core/status_macros.h"
#include "sidecar/data_plane_server.h"
#include "sidecar/gateway.h"
#include "sidecar/member.h"
#include "sidecar/metrics.h"
#include "sidecar/result_board.h"
#include "sidecar/rollout_client.h"
#include "sidecar/transport/peer_link.h"
#include "sidecar/worker_server.h"

namespace geostorm::sidecar {

std::chrono::milliseconds IterationTimeout(std::chrono::milliseconds fixed, const core::Policy& policy) {
  if (fixed.count() > 0) return fixed;
  const auto predicted = std::chrono::duration<double>(kTimeoutFactor * std::max(0.0, policy.predicted_seconds));
  return std::max<std::chrono::milliseconds>(kTimeoutFloor,
                                             std::chrono::duration_cast<std::chrono::milliseconds>(predicted));
}

namespace {

bool IsDcOf(const core::Policy& p, const std::string& dc) {
  return std::find(p.data_centers.begin(), p.data_centers.end(), dc) != p.data_centers.end();
}

// The worker API has no TLS: it is served on a Unix socket or on loopback only.
bool IsLocalOnly(const std::string& address) {
  if (absl::StartsWith(address, "unix:") || absl::StartsWith(address, "unix-abstract:")) return true;
  const size_t colon = address.rfind(':');
  const std::string host = colon == std::string::npos ? "" : address.substr(0, colon);
  return host == "127.0.0.1" || host == "localhost" || host == "[::1]";
}

// What can be checked of a configuration before anything is started.
absl::Status CheckConfig(const SidecarConfig& config) {
  const core::Policy& p = config.policy;
  if (config.data_center.empty()) return absl::InvalidArgumentError("--dc: the DC name is required");
  if (!config.worker_listen.empty() && !IsLocalOnly(config.worker_listen)) {
    return absl::InvalidArgumentError(absl::StrCat("--worker-listen ", config.worker_listen,
                                                   ": the worker API has no TLS, so it is served only on a Unix "
                                                   "socket (unix:PATH) or on loopback (127.0.0.1, [::1], localhost)"));
  }
  if (!config.controller.empty()) {  // the policy comes from the controller: checked when it arrives
    if (!config.gateway.empty()) {
      return absl::InvalidArgumentError("--controller: only gateways talk to the controller");
    }
    return absl::OkStatus();
  }
  if (!config.gateway.empty() && p.data_centers.empty()) return absl::OkStatus();  // asks its gateway
  if (!IsDcOf(p, config.data_center)) {
    return absl::InvalidArgumentError(absl::StrCat("--dc: '", config.data_center, "' is not a DC of the policy"));
  }
  if (p.model_bytes % 4 != 0 || p.chunk_bytes % 4 != 0) {
    return absl::InvalidArgumentError("policy: model and chunk sizes must be whole float32 values (multiples of 4)");
  }
  if (config.gateway.empty()) {
    if (const std::string dc = UnreachablePeer(p, config.data_center, config.peers); !dc.empty()) {
      return absl::InvalidArgumentError(absl::StrCat("--peer: no address for '", dc, "', which the policy sends to"));
    }
  }
  return absl::OkStatus();
}

// The pieces of a sidecar, built in order and torn down in reverse: the servers
// stop before the gateway or member they call into.
class SidecarImpl final : public Sidecar {
 public:
  explicit SidecarImpl(SidecarConfig config) : config_(std::move(config)) {}
  ~SidecarImpl() override { Shutdown(); }

  absl::Status Init() {
    ASSIGN_OR_RETURN(control::Credentials creds, control::MakeCredentials(config_.tls, config_.insecure));
    std::unique_ptr<RolloutClient> rollout;
    if (!config_.controller.empty()) {
      const auto wait = std::max<std::chrono::milliseconds>(config_.timeout, kTimeoutFloor);
      ASSIGN_OR_RETURN(rollout, RolloutClient::Connect({config_.controller, config_.job, config_.data_center, wait,
                                                        config_.ignore_prepare},
                                                       creds.channel));
      config_.policy = rollout->initial().front().policy;
      if (!IsDcOf(config_.policy, config_.data_center)) {
        return absl::InvalidArgumentError(
            absl::StrCat("--dc: '", config_.data_center, "' is not a DC of the controller's policy"));
      }
    }
    const bool member = !config_.gateway.empty();
    auto timeout = IterationTimeout(config_.timeout, config_.policy);
    if (member && config_.policy.data_centers.empty()) {
      ASSIGN_OR_RETURN(const v1::JobInfo job, AskGateway(creds.channel));
      config_.policy.model_bytes = job.model_bytes();
      config_.policy.chunk_bytes = job.chunk_bytes();
      config_.total_workers = job.total_workers();
      config_.sync_mode = job.sync_mode();
      timeout = config_.timeout.count() > 0 ? config_.timeout : std::chrono::milliseconds(job.timeout_ms());
    }
    // Workers of the whole job: given, or W in every DC (a member without a policy
    // has the gateway's figure by now).
    if (config_.total_workers <= 0) {
      config_.total_workers = config_.local_workers * static_cast<int>(config_.policy.data_centers.size());
    }
    board_ = std::make_unique<ResultBoard>(config_.policy.num_chunks(), member ? 1 : config_.local_workers);
    if (!config_.metrics_listen.empty()) {
      ASSIGN_OR_RETURN(metrics_, SidecarMetrics::Start(config_.metrics_listen, config_.job, config_.data_center));
      metrics_->SetPolicy(config_.policy);
    }
    if (!config_.events_file.empty()) {
      ASSIGN_OR_RETURN(events_,
                       control::EventLog::Open(config_.events_file,
                                               config_.member_id.empty() ? config_.data_center : config_.member_id));
    }
    Uplink* uplink = nullptr;
    if (member) {
      member_ = std::make_unique<Member>(config_, timeout, creds.channel, board_.get(), metrics_.get(), events_.get());
      uplink = member_.get();
    } else {
      ASSIGN_OR_RETURN(gateway_, Gateway::Create(config_, creds.channel, {board_.get(), metrics_.get(), events_.get()},
                                                 std::move(rollout)));
      uplink = gateway_.get();
      data_plane_ = std::make_unique<DataPlaneServer>(config_, gateway_.get(), board_.get());
    }
    worker_api_ = std::make_unique<WorkerServer>(config_, uplink, board_.get());
    grpc::ServerBuilder builder;
    builder.SetMaxReceiveMessageSize(wire::kMaxMessageBytes);
    builder.SetMaxSendMessageSize(-1);
    if (data_plane_) {
      builder.AddListeningPort(config_.listen, creds.server, &data_port_);
      builder.RegisterService(data_plane_.get());
    }
    if (!config_.worker_listen.empty()) {
      // The worker API is local only: a Unix socket or loopback, never TLS-less off-host.
      builder.AddListeningPort(config_.worker_listen, grpc::InsecureServerCredentials());
      builder.RegisterService(worker_api_.get());
    }
    server_ = builder.BuildAndStart();
    if (!server_ || (data_plane_ && data_port_ == 0)) {
      return absl::UnavailableError(absl::StrCat("cannot listen on ", member ? config_.worker_listen : config_.listen));
    }
    // Only this user and its group (the pod's fsGroup) may connect to the worker
    // socket; in a pod it also lives in an emptyDir that no other pod sees.
    if (absl::StartsWith(config_.worker_listen, "unix:")) {
      const std::string path = config_.worker_listen.substr(5);
      if (::chmod(path.c_str(), 0660) != 0) {
        return absl::PermissionDeniedError(
            absl::StrCat("--worker-listen: cannot restrict ", path, " to its owner and group: ", std::strerror(errno)));
      }
    }
    if (events_) events_->Started({{"data", data_port_}, {"metrics", metrics_port()}});
    spdlog::info("sidecar {} ({}) of job {} serving; policy v{} ({}), {} chunks, iteration timeout {} ms",
                 config_.data_center, member ? "member" : "gateway", config_.job, config_.policy.version,
                 config_.policy.strategy, config_.policy.num_chunks(), uplink->Timeout().count());
    return absl::OkStatus();
  }

  // A member started without a policy takes the job's shape from its gateway, which
  // may still be waiting for its own first policy.
  absl::StatusOr<v1::JobInfo> AskGateway(const std::shared_ptr<grpc::ChannelCredentials>& credentials) const {
    const auto wait = 2 * std::max<std::chrono::milliseconds>(config_.timeout, kTimeoutFloor);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + wait);
    context.set_wait_for_ready(true);
    v1::JobInfo job;
    const grpc::Status s =
        wire::DataPlaneStub(grpc::CreateCustomChannel(config_.gateway, credentials,
                                                      PeerChannelArguments(control::DataCenterIdentity(
                                                          config_.job, config_.data_center, config_.insecure))))
            .Describe(&context, {}, &job);
    if (!s.ok()) {
      return absl::UnavailableError(
          absl::StrCat("--gateway ", config_.gateway, ": could not learn the job's shape: ", s.error_message()));
    }
    if (job.job() != config_.job || job.data_center() != config_.data_center) {
      return absl::InvalidArgumentError(absl::StrCat("--gateway ", config_.gateway, " serves job '", job.job(),
                                                     "' in DC '", job.data_center(), "', not job '", config_.job,
                                                     "' in DC '", config_.data_center, "'"));
    }
    return job;
  }

  int data_port() const override { return data_port_; }
  int metrics_port() const override { return metrics_ ? metrics_->port() : 0; }
  void Wait() override { server_->Wait(); }

  void Shutdown() override {
    if (stopping_.exchange(true)) return;
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(500));
    gateway_.reset();
    member_.reset();
  }

 private:
  SidecarConfig config_;
  std::unique_ptr<ResultBoard> board_;
  std::unique_ptr<SidecarMetrics> metrics_;
  std::unique_ptr<control::EventLog> events_;
  std::unique_ptr<Gateway> gateway_;
  std::unique_ptr<Member> member_;
  std::unique_ptr<DataPlaneServer> data_plane_;
  std::unique_ptr<WorkerServer> worker_api_;
  std::unique_ptr<grpc::Server> server_;
  int data_port_ = 0;
  std::atomic<bool> stopping_{false};
};

}  // namespace

absl::StatusOr<std::unique_ptr<Sidecar>> Sidecar::Start(SidecarConfig config) {
  RETURN_IF_ERROR(CheckConfig(config));
  auto sidecar = std::make_unique<SidecarImpl>(std::move(config));
  RETURN_IF_ERROR(sidecar->Init());
  return sidecar;
}

}  // namespace geostorm::sidecar
