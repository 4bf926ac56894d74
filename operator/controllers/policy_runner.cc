#include "operator/controllers/policy_runner.h"

#include <grpcpp/grpcpp.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "control/control_service.h"
#include "control/controller.h"
#include "control/credentials.h"
#include "control/link_source.h"
#include "core/status_macros.h"
#include "operator/controllers/certificate_store.h"
#include "operator/controllers/initial_policy.h"
#include "operator/controllers/topology_policy_store.h"

namespace geostorm::controllers {
struct PolicyRunners::Runner {
  std::string dir;       // the controller's TLS files
  std::string cert_pem;  // what they hold
  std::unique_ptr<TopologyPolicyStore> store;
  std::unique_ptr<control::ControlService> service;
  std::unique_ptr<grpc::Server> server;
  std::unique_ptr<control::Controller> controller;
  std::atomic<bool> stop{false};
  std::thread loop;
  std::string address;
  int port = 0;

  // Each file is replaced whole (written beside it, then renamed over it), so the
  // credentials, which reload them, never read half of one.
  absl::Status WriteTlsFiles(const std::map<std::string, KeyPair>& certificates) {
    const KeyPair& mine = certificates.at(CertificateStore::kControllerKey);
    for (const auto& [name, text] : {std::pair{"tls.key", mine.key_pem}, std::pair{"tls.crt", mine.cert_pem},
                                     std::pair{"ca.crt", certificates.at(CertificateStore::kCaKey).cert_pem}}) {
      const std::string path = absl::StrCat(dir, "/", name);
      std::ofstream(path + ".new") << text;
      std::error_code error;
      std::filesystem::rename(path + ".new", path, error);
      if (error) return absl::InternalError(absl::StrCat("cannot write ", path, ": ", error.message()));
    }
    cert_pem = mine.cert_pem;
    return absl::OkStatus();
  }

  ~Runner() {
    stop = true;
    if (service) service->Shutdown();
    if (loop.joinable()) loop.join();
    if (server) server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    if (!dir.empty()) std::filesystem::remove_all(dir);
  }
};

PolicyRunners::PolicyRunners(kube::Client& host, PolicyRunnerOptions options)
    : host_(host), options_(std::move(options)) {}

PolicyRunners::~PolicyRunners() = default;

absl::StatusOr<JobPolicyView> PolicyRunners::Ensure(const kube::Json& job, const api::JobSpec& spec,
                                                    const core::Policy& initial,
                                                    const std::map<std::string, KeyPair>& certificates,
                                                    int preferred_port) {
  const std::string uid = job["metadata"].value("uid", "");
  const JobRef ref{job["metadata"].value("namespace", ""), job["metadata"].value("name", "")};
  std::lock_guard<std::mutex> lock(mu_);
  auto it = runners_.find(uid);
  if (it == runners_.end()) {
    auto runner = std::make_unique<Runner>();
    control::TlsFiles files;
    if (!options_.insecure) {
      char dir[] = "/tmp/geostorm-control-XXXXXX";
      if (mkdtemp(dir) == nullptr) return absl::InternalError("cannot make a directory for the controller's TLS files");
      runner->dir = dir;
      RETURN_IF_ERROR(runner->WriteTlsFiles(certificates));
      files = {runner->dir + "/tls.crt", runner->dir + "/tls.key", runner->dir + "/ca.crt"};
    }
    absl::StatusOr<control::Credentials> credentials = control::MakeCredentials(files, options_.insecure);
    if (!credentials.ok()) return credentials.status();

    const std::string job_name = SidecarJobName(ref);
    runner->store = std::make_unique<TopologyPolicyStore>(host_, ref, job, PlanFingerprint(spec));
    control::ControlServiceConfig service_config;
    service_config.job = job_name;
    for (const api::DataCenterSpec& dc : spec.data_centers) service_config.gateways.push_back(dc.name);
    service_config.sync_mode = spec.sync_mode;
    service_config.esync = {spec.local_steps, spec.max_local_steps};
    absl::StatusOr<std::unique_ptr<control::ControlService>> service =
        control::ControlService::Create(service_config, runner->store.get(), initial);
    if (!service.ok()) return service.status();
    runner->service = *std::move(service);

    // The port the job had (its gateways dial it), else the first free one of the
    // range a Service forwards, else (no range) any.
    const bool ranged = options_.first_port > 0;
    const auto in_range = [&](int p) { return !ranged || (p >= options_.first_port && p <= options_.last_port); };
    std::vector<int> candidates;
    if (preferred_port > 0 && in_range(preferred_port)) candidates.push_back(preferred_port);
    for (int p = options_.first_port; ranged && p <= options_.last_port; ++p) candidates.push_back(p);
    if (!ranged) candidates.push_back(0);
    int port = 0;
    for (const int wanted : candidates) {
      grpc::ServerBuilder builder;
      builder.AddListeningPort(absl::StrCat(options_.bind_host, ":", wanted), credentials->server, &port);
      builder.RegisterService(runner->service->grpc());
      runner->server = builder.BuildAndStart();
      if (runner->server && port != 0) break;
      runner->server.reset();
    }
    if (!runner->server || port == 0) {
      return absl::UnavailableError(
          options_.first_port > 0 ? absl::StrCat("cannot start the job's control server: no free port in ",
                                                 options_.first_port, "-", options_.last_port, " (--control-ports)")
                                  : "cannot start the job's control server");
    }
    runner->port = port;
    runner->address = absl::StrCat(options_.advertise_host, ":", port);

    control::ControllerConfig config;
    config.job = job_name;
    config.replan.strategy = spec.strategy;
    config.replan.min_improvement = spec.min_improvement;
    config.replan.model_bytes = spec.model_bytes;
    config.replan.chunk_bytes = spec.chunk_bytes;
    config.replan.plan.roots = spec.roots;
    config.replan.plan.multipath = spec.multipath;
    config.interval = std::chrono::milliseconds(static_cast<int64_t>(spec.reconcile_interval_s * 1000));
    std::unique_ptr<control::LinkSource> source =
        spec.prometheus_url.empty()
            ? control::MakeReportLinkSource(runner->service.get())
            : control::MakePrometheusLinkSource(spec.prometheus_url, job_name, std::chrono::seconds(5));
    runner->controller =
        std::make_unique<control::Controller>(config, UniformGuess(spec), runner->service.get(), std::move(source));
    Runner* raw = runner.get();
    runner->loop = std::thread([raw] { raw->controller->Run(raw->stop); });
    spdlog::info("job {}/{}: policy controller on {} (policy v{})", ref.ns, ref.name, runner->address,
                 runner->service->Current().policy.version);
    it = runners_.emplace(uid, std::move(runner)).first;
  }
  Runner& runner = *it->second;
  if (!runner.dir.empty() && runner.cert_pem != certificates.at(CertificateStore::kControllerKey).cert_pem) {
    RETURN_IF_ERROR(runner.WriteTlsFiles(certificates));  // renewed: the server reloads them
    spdlog::info("job {}/{}: the policy controller's certificate was renewed", ref.ns, ref.name);
  }
  JobPolicyView view;
  view.address = runner.address;
  view.port = runner.port;
  const core::Activation current = runner.service->Current();
  view.version = current.policy.version;
  view.roots = PolicyRoots(current.policy);
  for (const auto& [dc, report] : runner.service->Reports())
    view.iteration = std::max(view.iteration, report.iteration);
  return view;
}

void PolicyRunners::Stop(const std::string& uid) {
  std::unique_ptr<Runner> runner;
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = runners_.find(uid);
    if (it == runners_.end()) return;
    runner = std::move(it->second);
    runners_.erase(it);
  }
}

}  // namespace geostorm::controllers
