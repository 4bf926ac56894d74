#include "cli/local_command.h"

#include <arpa/inet.h>
#include <grpcpp/grpcpp.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
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
#include "core/sim/simulator.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/spdlog.h"
#include "testbed/emulated_wan.h"

namespace geostorm::cli {
namespace {

namespace bp = boost::process;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

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
  const int filled = total > 0 ? std::min(done, total) * width / total : width;
  std::cerr << "\r[" << std::string(filled, '#') << std::string(width - filled, '.') << "] " << done << "/" << total
            << " iterations" << std::flush;
}

// Every link at the mean rate: what a planner blind to the WAN would assume.
core::Topology UniformGuess(core::Topology topology) {
  double sum = 0;
  for (const core::DirectedLink& l : topology.links) sum += l.mbps;
  for (core::DirectedLink& l : topology.links) l.mbps = sum / static_cast<double>(topology.links.size());
  return topology;
}

// T_min of the topology's rates in a period.
double TMinAt(const core::Topology& topology, int64_t period, int64_t model, int64_t chunk) {
  absl::StatusOr<core::NetworkView> view =
      core::BuildView(topology, topology.LinksAt(period), core::Overlay::kAllPairs, model, chunk);
  return view.ok() ? core::TMinSeconds(*view) : 0;
}

// The simulator's iteration time for a policy on the topology's real (period 0) rates.
double Predict(const core::Topology& topology, const core::Policy& policy, int64_t model, int64_t chunk) {
  std::unique_ptr<core::Planner> planner = core::MakePlanner(policy.strategy);
  if (!planner) return 0;
  absl::StatusOr<core::NetworkView> view = core::BuildView(topology, planner->overlay(), model, chunk);
  if (!view.ok()) return 0;
  absl::StatusOr<core::SimResult> sim = core::Simulate(*view, policy);
  return sim.ok() ? sim->iteration_seconds : 0;
}

// Starts the job's programs, each inside its DC's namespace when there is a WAN.
class Launcher {
 public:
  explicit Launcher(const testbed::EmulatedWan* wan) : wan_(wan) {}

  // A child dies with this process, even when it is killed: nothing outlives a run.
  bp::child Start(int dc, const std::string& program, std::vector<std::string> args, const std::string& log) const {
    auto die_with_parent = bp::extend::on_exec_setup([](auto&) { ::prctl(PR_SET_PDEATHSIG, SIGKILL); });
    if (wan_ == nullptr) return bp::child(Sibling(program), args, (bp::std_out & bp::std_err) > log, die_with_parent);
    args.insert(args.begin(), {"netns", "exec", wan_->Namespace(dc), Sibling(program)});
    return bp::child(std::string("/usr/sbin/ip"), args, (bp::std_out & bp::std_err) > log, die_with_parent);
  }

 private:
  const testbed::EmulatedWan* wan_;
};

}  // namespace

void AddLocalCommand(CLI::App& app, LocalFlags& flags) {
  CLI::App* cmd = app.add_subcommand("local", "run a job on this machine: controller, sidecars and synthetic workers");
  cmd->add_option("--topology", flags.topology, "topology file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--strategy", flags.strategy, "planner")->check(CLI::IsMember(core::StrategyNames()));
  cmd->add_option("--model-mb", flags.model_mb, "gradient size per worker in MB")->check(CLI::PositiveNumber);
  cmd->add_option("--chunk-bytes", flags.chunk_bytes, "chunk size (default: about model/512)")
      ->check(CLI::Range(int64_t{4096}, int64_t{64} << 20));
  cmd->add_option("--iterations", flags.iterations, "iterations to run")->check(CLI::PositiveNumber);
  cmd->add_option("--workers", flags.workers, "workers per DC")->check(CLI::PositiveNumber);
  cmd->add_option("--prometheus", flags.prometheus, "Prometheus base URL for the link matrix");
  cmd->add_option("--interval-ms", flags.interval_ms, "controller reconcile interval")->check(CLI::PositiveNumber);
  cmd->add_option("--min-improvement", flags.min_improvement, "re-plan threshold")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--timeout-ms", flags.timeout_ms, "an iteration fails after this long")->check(CLI::PositiveNumber);
  cmd->add_option("--out", flags.out_dir, "directory for logs, state and summary.json");
  cmd->add_flag("--wan", flags.wan, "run each DC in a namespace of an emulated WAN (root)");
  cmd->add_option("--scale", flags.scale, "multiply every rate of the topology by this")->check(CLI::PositiveNumber);
  cmd->add_option("--period-s", flags.period_s, "dynamic topologies: redraw period")->check(CLI::PositiveNumber);
  cmd->add_option("--tag", flags.tag, "the emulated WAN's namespaces are gs<tag>-*");
  cmd->add_option("--star-root", flags.star_root, "star: the parameter server's DC");
  cmd->add_flag("--no-multipath{false}", flags.multipath, "netstorm: no aux relay routes");
  cmd->add_flag("--uniform-guess", flags.uniform_guess, "plan from every link at the mean rate; never re-plan");
  cmd->add_flag("--fixed-policy{false}", flags.replan, "keep the first policy: no re-planning");
}

namespace {

std::atomic<bool> interrupted{false};

}  // namespace

int RunLocal(const LocalFlags& flags) {
  absl::StatusOr<core::Topology> loaded = core::LoadTopologyFile(flags.topology);
  if (!loaded.ok()) {
    std::cerr << "geostorm local: " << loaded.status().message() << "\n";
    return 2;
  }
  if (flags.wan && ::geteuid() != 0) {
    std::cerr << "geostorm local: --wan needs root, for network namespaces and tc; without --wan the job runs on "
                 "unshaped loopback\n";
    return 2;
  }
  const core::Topology topology = core::ScaleRates(*loaded, flags.scale);
  const int64_t model = static_cast<int64_t>(flags.model_mb * 1e6) / 4 * 4;
  const int64_t chunk = flags.chunk_bytes > 0 ? flags.chunk_bytes : core::AutoChunkBytes(model);
  core::PlanOptions plan_options;
  plan_options.multipath = flags.multipath;
  if (!flags.star_root.empty()) {
    plan_options.star_root = topology.IndexOf(flags.star_root);
    if (plan_options.star_root < 0) {
      std::cerr << "geostorm local: --star-root " << flags.star_root << ": no such DC in " << flags.topology << "\n";
      return 2;
    }
  }
  absl::StatusOr<core::Policy> initial = core::PlanTopology(flags.uniform_guess ? UniformGuess(topology) : topology,
                                                            flags.strategy, model, chunk, plan_options);
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
  // The controller logs into the output directory; the terminal shows the progress.
  spdlog::set_default_logger(spdlog::basic_logger_mt("controller", out + "/controller.log", true));
  spdlog::flush_on(spdlog::level::info);
  std::signal(SIGINT, [](int) { interrupted = true; });
  std::signal(SIGTERM, [](int) { interrupted = true; });

  std::unique_ptr<testbed::EmulatedWan> wan;
  if (flags.wan) {
    absl::StatusOr<std::unique_ptr<testbed::EmulatedWan>> up = testbed::EmulatedWan::Up(topology, {flags.tag});
    if (!up.ok()) {
      std::cerr << "geostorm local: cannot bring the emulated WAN up: " << up.status().message() << "\n";
      return 1;
    }
    wan = *std::move(up);
  }
  const auto started = Clock::now();
  auto since_start = [&] { return std::chrono::duration<double>(Clock::now() - started).count(); };
  // The controller, in this process, on a Unix socket that every namespace reaches.
  control::ControlServiceConfig service_config;
  service_config.job = "local";
  service_config.gateways = topology.data_centers;
  control::FileStateStore store(out + "/rollout-state.json");
  absl::StatusOr<std::unique_ptr<control::ControlService>> service =
      control::ControlService::Create(service_config, &store, *initial);
  if (!service.ok()) {
    std::cerr << "geostorm local: " << service.status().message() << "\n";
    return 2;
  }
  const std::string control_address = absl::StrCat("unix:", out, "/control.sock");
  fs::remove(out + "/control.sock", ec);
  grpc::ServerBuilder builder;
  int control_port = 0;
  builder.AddListeningPort(control_address, grpc::InsecureServerCredentials(), &control_port);
  builder.RegisterService((*service)->grpc());
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (!server || control_port == 0) {
    std::cerr << "geostorm local: cannot start the control service on " << control_address << "\n";
    return 1;
  }
  control::ControllerConfig config;
  config.job = service_config.job;
  config.replan.strategy = flags.strategy;
  config.replan.min_improvement = flags.min_improvement;
  config.replan.model_bytes = model;
  config.replan.chunk_bytes = chunk;
  config.replan.plan = plan_options;
  config.settle_iterations = 3;
  config.interval = std::chrono::milliseconds(flags.interval_ms);
  std::unique_ptr<control::LinkSource> source =
      flags.prometheus.empty()
          ? control::MakeReportLinkSource(service->get())
          : control::MakePrometheusLinkSource(flags.prometheus, config.job, std::chrono::seconds(5));
  control::Controller controller(config, topology, service->get(), std::move(source));
  std::atomic<bool> stop{false};
  std::thread loop;
  if (flags.replan && !flags.uniform_guess) loop = std::thread([&] { controller.Run(stop); });

  // A dynamic topology's rates change live, every period.
  std::mutex periods_mu;
  nlohmann::json periods =
      nlohmann::json::array({{{"period", 0}, {"start_s", 0.0}, {"t_min_s", TMinAt(topology, 0, model, chunk)}}});
  std::thread redraw;
  if (wan && topology.dynamic) {
    const double period_s = flags.period_s > 0 ? flags.period_s : topology.dynamic->period_seconds;
    redraw = std::thread([&, period_s] {
      absl::Status s = wan->Redraw(period_s, stop, [&](int64_t p) {
        std::lock_guard<std::mutex> lock(periods_mu);
        periods.push_back({{"period", p}, {"start_s", since_start()}, {"t_min_s", TMinAt(topology, p, model, chunk)}});
      });
      if (!s.ok()) std::cerr << "\ngeostorm local: the WAN's rates stopped changing: " << s.message() << "\n";
    });
  }

  // Sidecars and workers, as child processes logging into `out`.
  const Launcher launcher(wan.get());
  const int n = static_cast<int>(topology.data_centers.size());
  std::vector<std::string> addresses(n);
  for (int i = 0; i < n; ++i) {
    addresses[i] = wan ? absl::StrCat(testbed::DcAddress(i), ":7000") : absl::StrCat("127.0.0.1:", FreePort());
  }
  std::vector<bp::child> sidecars, workers;
  std::vector<std::string> gateway_logs;
  const std::string total = std::to_string(flags.workers * n);
  for (int i = 0; i < n; ++i) {
    const std::string& dc = topology.data_centers[i];
    std::vector<std::string> args = {"--job",
                                     config.job,
                                     "--dc",
                                     dc,
                                     "--controller",
                                     control_address,
                                     "--listen",
                                     addresses[i],
                                     "--worker-listen",
                                     absl::StrCat("unix:", out, "/", dc, "-0.sock"),
                                     "--workers",
                                     std::to_string(flags.workers),
                                     "--timeout-ms",
                                     std::to_string(flags.timeout_ms),
                                     "--metrics",
                                     "127.0.0.1:0",
                                     "--min-window-bytes",
                                     "262144",
                                     "--insecure"};
    for (int j = 0; j < n; ++j) {
      if (j != i) args.insert(args.end(), {"--peer", absl::StrCat(topology.data_centers[j], "=", addresses[j])});
    }
    gateway_logs.push_back(absl::StrCat(out, "/gateway-", dc, ".log"));
    sidecars.push_back(launcher.Start(i, "geostorm-sidecar", args, gateway_logs.back()));
  }
  // Members take the sizes from a policy file; the gateway does the rest.
  const std::string policy_file = out + "/initial-policy.yaml";
  std::ofstream(policy_file) << core::ToYaml(*initial);
  for (int i = 0; i < n; ++i) {
    const std::string& dc = topology.data_centers[i];
    for (int w = 1; w < flags.workers; ++w) {
      sidecars.push_back(launcher.Start(
          i, "geostorm-sidecar",
          {"--job", config.job, "--dc", dc, "--policy", policy_file, "--gateway", addresses[i], "--member-id",
           absl::StrCat(dc, "-", w), "--worker-listen", absl::StrCat("unix:", out, "/", dc, "-", w, ".sock"),
           "--workers", std::to_string(flags.workers), "--total-workers", total, "--insecure"},
          absl::StrCat(out, "/member-", dc, "-", w, ".log")));
    }
  }
  for (int i = 0; i < n; ++i) {
    const std::string& dc = topology.data_centers[i];
    for (int w = 0; w < flags.workers; ++w) {
      workers.push_back(launcher.Start(
          i, "geostorm-synthetic-worker",
          {"--sidecar", absl::StrCat("unix:", out, "/", dc, "-", w, ".sock"), "--dc-index", std::to_string(i),
           "--worker-index", std::to_string(w), "--dcs", std::to_string(n), "--workers", std::to_string(flags.workers),
           "--iterations", std::to_string(flags.iterations), "--keep-going"},
          absl::StrCat(out, "/worker-", dc, "-", w, ".log")));
    }
  }

  std::cerr << "geostorm local: " << n << " DCs x " << flags.workers << " workers, " << flags.model_mb << " MB, "
            << flags.strategy << (wan ? absl::StrCat(", emulated WAN at ", flags.scale, "x the rates") : ", loopback")
            << "; logs in " << out << "\n";
  std::map<uint64_t, double> done_at;  // iteration -> when every gateway had logged it
  int failed_workers = 0;
  for (;;) {
    for (const auto& [t, it] : ReadIterations(gateway_logs)) {
      if (it.gateways == n) done_at.emplace(t, since_start());
    }
    ProgressBar(static_cast<int>(done_at.size()), flags.iterations);
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
  if (loop.joinable()) loop.join();
  if (redraw.joinable()) redraw.join();
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
  wan.reset();
  if (interrupted) {
    std::cerr << "geostorm local: interrupted; every process stopped" << (flags.wan ? ", the WAN torn down" : "")
              << "\n";
    return 130;
  }

  const std::map<uint64_t, Iteration> iterations = ReadIterations(gateway_logs);
  std::vector<double> times;
  nlohmann::json summary = {{"topology", topology.name},  {"strategy", flags.strategy},
                            {"model_mb", flags.model_mb}, {"workers_per_dc", flags.workers},
                            {"wan", flags.wan},           {"scale", flags.scale},
                            {"periods", periods},         {"iterations", nlohmann::json::array()}};
  for (const auto& [t, it] : iterations) {
    if (it.gateways == n) times.push_back(it.seconds);
    summary["iterations"].push_back({{"iteration", t},
                                     {"seconds", it.seconds},
                                     {"policy_version", it.version},
                                     {"done_at_s", done_at.count(t) ? done_at[t] : since_start()}});
  }
  const double t_min = TMinAt(topology, 0, model, chunk);
  const double predicted = Predict(topology, *initial, model, chunk);
  const double median = Quantile(times, 0.5);
  summary["median_s"] = median;
  summary["p90_s"] = Quantile(times, 0.9);
  summary["t_min_s"] = t_min;
  summary["predicted_s"] = predicted;
  summary["rollouts_committed"] = (*service)->counters().committed;
  summary["failed_workers"] = failed_workers;
  std::ofstream(out + "/summary.json") << summary.dump(2) << "\n";
  std::printf("%d/%d iterations finished on every DC; median %.3f s, p90 %.3f s\n", static_cast<int>(times.size()),
              flags.iterations, median, Quantile(times, 0.9));
  if (flags.wan) {
    std::printf("the emulated WAN: T_min %.3f s, median %.2f x T_min; policy v1 predicted %.3f s (%+.0f%%)\n", t_min,
                median / t_min, predicted, predicted > 0 ? 100 * (median - predicted) / predicted : 0.0);
  } else {
    std::printf(
        "the topology's WAN: T_min %.3f s, policy v1 predicted %.3f s. This run is on unshaped loopback,\n"
        "where the WAN's rates do not apply and the CPU bounds the time.\n",
        t_min, predicted);
  }
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
