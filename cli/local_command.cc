#include "cli/local_command.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/process.hpp>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <regex>
#include <thread>

#include "absl/strings/str_cat.h"
#include "control/control_service.h"
#include "control/controller.h"
#include "core/lower_bound.h"
#include "core/network_view.h"
#include "core/planner/planner.h"
#include "core/policy/policy_codec.h"

namespace geostorm::cli {
namespace {

namespace bp = boost::process;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

std::atomic<bool> interrupted{false};

// A loopback TCP port that was free a moment ago.
int FreePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// The programs next to this one (build/bin).
std::string Sibling(const std::string& name) {
  return (fs::read_symlink("/proc/self/exe").parent_path() / name).string();
}

struct Iteration {
  double seconds = 0;  // the slowest gateway's
  uint64_t version = 0;
  int gateways = 0;
};

// Iteration -> time and policy version, from the gateways' logs.
std::map<uint64_t, Iteration> ReadIterations(const std::vector<std::string>& logs) {
  std::map<uint64_t, Iteration> out;
  const std::regex line(R"(iteration (\d+) done in (\S+) s with policy v(\d+))");
  for (const std::string& path : logs) {
    std::ifstream in(path);
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    for (auto it = std::sregex_iterator(text.begin(), text.end(), line); it != std::sregex_iterator(); ++it) {
      Iteration& i = out[std::stoull((*it)[1])];
      i.seconds = std::max(i.seconds, std::stod((*it)[2]));
      i.version = std::stoull((*it)[3]);
      ++i.gateways;
    }
  }
  return out;
}

double Quantile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(std::lround(q * static_cast<double>(v.size() - 1)))];
}

void ProgressBar(int done, int total) {
  const int width = 40;
  const int filled = total > 0 ? done * width / total : width;
  std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/" << total
            << " iterations" << std::flush;
}

}  // namespace

void AddLocalCommand(CLI::App& app, LocalFlags& flags) {
  CLI::App* cmd = app.add_subcommand("local", "run a job on this machine: controller, sidecars and synthetic workers");
  cmd->add_option("--topology", flags.topology, "topology file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--strategy", flags.strategy, "planner")->check(CLI::IsMember(core::StrategyNames()));
  cmd->add_option("--model-mb", flags.model_mb, "gradient size per worker in MB")->check(CLI::PositiveNumber);
  cmd->add_option("--iterations", flags.iterations, "iterations to run")->check(CLI::PositiveNumber);
  cmd->add_option("--workers", flags.workers, "workers per DC")->check(CLI::PositiveNumber);
  cmd->add_option("--prometheus", flags.prometheus, "Prometheus base URL for the link matrix");
  cmd->add_option("--interval-ms", flags.interval_ms, "controller reconcile interval")->check(CLI::PositiveNumber);
  cmd->add_option("--min-improvement", flags.min_improvement, "re-plan threshold")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--timeout-ms", flags.timeout_ms, "an iteration fails after this long")->check(CLI::PositiveNumber);
  cmd->add_option("--out", flags.out_dir, "directory for logs, state and summary.json");
}

int RunLocal(const LocalFlags& flags) {
  absl::StatusOr<core::Topology> topology = core::LoadTopologyFile(flags.topology);
  if (!topology.ok()) {
    std::cerr << "geostorm local: " << topology.status().message() << "\n";
    return 2;
  }
  const int64_t model = static_cast<int64_t>(flags.model_mb * 1e6) / 4 * 4;
  const int64_t chunk = core::AutoChunkBytes(model);
  absl::StatusOr<core::Policy> initial = core::PlanTopology(*topology, flags.strategy, model, chunk);
  if (!initial.ok()) {
    std::cerr << "geostorm local: " << initial.status().message() << "\n";
    return 2;
  }
  std::error_code ec;
  fs::create_directories(flags.out_dir, ec);
  if (ec) {
    std::cerr << "geostorm local: --out " << flags.out_dir << ": " << ec.message() << "\n";
    return 2;
  }
  const std::string out = fs::absolute(flags.out_dir).string();
  fs::remove(out + "/rollout-state.json", ec);  // a fresh job

  // The controller, in this process.
  control::ControlServiceConfig service_config;
  service_config.job = "local";
  service_config.gateways = topology->data_centers;
  control::FileStateStore store(out + "/rollout-state.json");
  absl::StatusOr<std::unique_ptr<control::ControlService>> service =
      control::ControlService::Create(service_config, &store, *initial);
  if (!service.ok()) {
    std::cerr << "geostorm local: " << service.status().message() << "\n";
    return 2;
  }
  grpc::ServerBuilder builder;
  int control_port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &control_port);
  builder.RegisterService((*service)->grpc());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || control_port == 0) {
    std::cerr << "geostorm local: cannot start the control service on loopback\n";
    return 1;
  }
  control::ControllerConfig config;
  config.job = service_config.job;
  config.replan = {flags.strategy, flags.min_improvement, model, chunk};
  config.interval = std::chrono::milliseconds(flags.interval_ms);
  std::unique_ptr<control::LinkSource> source =
      flags.prometheus.empty()
          ? control::MakeReportLinkSource(service->get())
          : control::MakePrometheusLinkSource(flags.prometheus, config.job, std::chrono::seconds(5));
  control::Controller controller(config, *topology, service->get(), std::move(source));
  std::atomic<bool> stop{false};
  std::thread loop([&] { controller.Run(stop); });

  // Sidecars and workers, as child processes logging into `out`.
  const int n = static_cast<int>(topology->data_centers.size());
  std::vector<int> ports(n);
  for (int& p : ports) p = FreePort();
  std::vector<bp::child> sidecars, workers;
  std::vector<std::string> gateway_logs;
  const std::string total = std::to_string(flags.workers * n);
  for (int i = 0; i < n; ++i) {
    const std::string& dc = topology->data_centers[i];
    std::vector<std::string> args = {"--job",
                                     config.job,
                                     "--dc",
                                     dc,
                                     "--controller",
                                     absl::StrCat("127.0.0.1:", control_port),
                                     "--listen",
                                     absl::StrCat("127.0.0.1:", ports[i]),
                                     "--worker-listen",
                                     absl::StrCat("unix:", out, "/", dc, "-0.sock"),
                                     "--workers",
                                     std::to_string(flags.workers),
                                     "--timeout-ms",
                                     std::to_string(flags.timeout_ms),
                                     "--metrics",
                                     "127.0.0.1:0",
                                     "--insecure"};
    for (int j = 0; j < n; ++j) {
      if (j != i) args.insert(args.end(), {"--peer", absl::StrCat(topology->data_centers[j], "=127.0.0.1:", ports[j])});
    }
    gateway_logs.push_back(absl::StrCat(out, "/gateway-", dc, ".log"));
    sidecars.emplace_back(Sibling("geostorm-sidecar"), args, (bp::std_out & bp::std_err) > gateway_logs.back());
  }
  // Members take the sizes from a policy file; the gateway does the rest.
  const std::string policy_file = out + "/initial-policy.yaml";
  std::ofstream(policy_file) << core::ToYaml(*initial);
  for (int i = 0; i < n; ++i) {
    const std::string& dc = topology->data_centers[i];
    for (int w = 1; w < flags.workers; ++w) {
      sidecars.emplace_back(
          Sibling("geostorm-sidecar"),
          std::vector<std::string>{"--job", config.job, "--dc", dc, "--policy", policy_file, "--gateway",
                                   absl::StrCat("127.0.0.1:", ports[i]), "--member-id", absl::StrCat(dc, "-", w),
                                   "--worker-listen", absl::StrCat("unix:", out, "/", dc, "-", w, ".sock"), "--workers",
                                   std::to_string(flags.workers), "--total-workers", total, "--insecure"},
          (bp::std_out & bp::std_err) > absl::StrCat(out, "/member-", dc, "-", w, ".log"));
    }
  }
  for (int i = 0; i < n; ++i) {
    const std::string& dc = topology->data_centers[i];
    for (int w = 0; w < flags.workers; ++w) {
      workers.emplace_back(
          Sibling("geostorm-synthetic-worker"),
          std::vector<std::string>{"--sidecar", absl::StrCat("unix:", out, "/", dc, "-", w, ".sock"), "--dc-index",
                                   std::to_string(i), "--worker-index", std::to_string(w), "--dcs", std::to_string(n),
                                   "--workers", std::to_string(flags.workers), "--iterations",
                                   std::to_string(flags.iterations), "--keep-going"},
          (bp::std_out & bp::std_err) > absl::StrCat(out, "/worker-", dc, "-", w, ".log"));
    }
  }

  std::signal(SIGINT, [](int) { interrupted = true; });
  std::signal(SIGTERM, [](int) { interrupted = true; });
  std::cerr << "geostorm local: " << n << " DCs x " << flags.workers << " workers, " << flags.model_mb << " MB, "
            << flags.strategy << "; logs in " << out << "\n";
  int failed_workers = 0;
  for (;;) {
    ProgressBar(static_cast<int>(ReadIterations({gateway_logs.front()}).size()), flags.iterations);
    if (interrupted) break;
    if (std::none_of(workers.begin(), workers.end(), [](bp::child& c) { return c.running(); })) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  std::cerr << "\n";
  for (bp::child& w : workers) {
    if (w.running()) w.terminate();
    w.wait();
    failed_workers += w.exit_code() != 0;
  }
  for (bp::child& s : sidecars) {
    if (s.running()) ::kill(s.id(), SIGTERM);
  }
  for (bp::child& s : sidecars) s.wait();
  stop = true;
  (*service)->Shutdown();
  loop.join();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  if (interrupted) {
    std::cerr << "geostorm local: interrupted; every process stopped\n";
    return 130;
  }

  const std::map<uint64_t, Iteration> iterations = ReadIterations(gateway_logs);
  std::vector<double> times;
  nlohmann::json summary = {{"topology", topology->name},
                            {"strategy", flags.strategy},
                            {"model_mb", flags.model_mb},
                            {"workers_per_dc", flags.workers},
                            {"iterations", nlohmann::json::array()}};
  for (const auto& [t, it] : iterations) {
    if (it.gateways == n) times.push_back(it.seconds);
    summary["iterations"].push_back({{"iteration", t}, {"seconds", it.seconds}, {"policy_version", it.version}});
  }
  absl::StatusOr<core::NetworkView> view = core::BuildView(*topology, core::Overlay::kAllPairs, model, chunk);
  const double t_min = view.ok() ? core::TMinSeconds(*view) : 0;
  const double median = Quantile(times, 0.5);
  summary["median_s"] = median;
  summary["p90_s"] = Quantile(times, 0.9);
  summary["t_min_s"] = t_min;
  summary["predicted_s"] = initial->predicted_seconds;
  summary["rollouts_committed"] = (*service)->counters().committed;
  summary["failed_workers"] = failed_workers;
  std::ofstream(out + "/summary.json") << summary.dump(2) << "\n";
  std::printf("%d/%d iterations finished on every DC; median %.3f s, p90 %.3f s\n", static_cast<int>(times.size()),
              flags.iterations, median, Quantile(times, 0.9));
  std::printf(
      "the topology's WAN: T_min %.3f s, policy v1 predicted %.3f s. This run is on unshaped loopback,\n"
      "where the WAN's rates do not apply and the CPU bounds the time.\n",
      t_min, initial->predicted_seconds);
  std::printf("policies committed: %lld; summary in %s/summary.json\n",
              static_cast<long long>((*service)->counters().committed), out.c_str());
  if (failed_workers > 0) {
    std::fprintf(stderr, "geostorm local: %d workers reported failed iterations; see %s/worker-*.log\n", failed_workers,
                 out.c_str());
    return 1;
  }
  return 0;
}

}  // namespace geostorm::cli
