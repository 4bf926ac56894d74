#include "cli/local_command.h"

#include <grpcpp/grpcpp.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <prometheus/exposer.h>
#include <prometheus/registry.h>
#include <algorithm>
#include <atomic>
#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "absl/strings/str_cat.h"
#include "cli/job_launcher.h"
#include "cli/prometheus_server.h"
#include "cli/run_report.h"
#include "control/control_service.h"
#include "control/controller.h"
#include "core/network_view.h"
#include "core/planner/planner.h"
#include "spdlog/sinks/basic_file_sink.h"
#include "spdlog/spdlog.h"
#include "testbed/emulated_wan.h"

namespace geostorm::cli {
namespace {

namespace bp = boost::process;
namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The directory of this program (build/bin), where the others are too.
std::string BinDir() { return fs::read_symlink("/proc/self/exe").parent_path().string(); }

// Starts the job's programs, each inside its DC's namespace when there is a WAN.
class Launcher {
 public:
  explicit Launcher(const testbed::EmulatedWan* wan) : wan_(wan) {}

  // argv: the program first (job_launcher.h). A child dies with this process,
  // even when it is killed: nothing outlives a run.
  // `env`: variables added to this process's environment for the child.
  bp::child Start(int dc, std::vector<std::string> argv, const std::string& log,
                  const std::map<std::string, std::string>& env = {}) const {
    auto die_with_parent = bp::extend::on_exec_setup([](auto&) { ::prctl(PR_SET_PDEATHSIG, SIGKILL); });
    bp::environment environment = boost::this_process::environment();
    for (const auto& [name, value] : env) environment[name] = value;
    std::string program = "/usr/sbin/ip";
    if (wan_ == nullptr) {
      program = argv.front();
      argv.erase(argv.begin());
    } else {
      argv.insert(argv.begin(), {"netns", "exec", wan_->Namespace(dc)});
    }
    return bp::child(program, argv, (bp::std_out & bp::std_err) > log, environment, die_with_parent);
  }

 private:
  const testbed::EmulatedWan* wan_;
};

std::atomic<bool> interrupted{false};

// One `geostorm local` run. Run() calls the steps in order; each fits on a screen.
class LocalRun {
 public:
  explicit LocalRun(const LocalFlags& flags) : flags_(flags) {}
  ~LocalRun() { Stop(); }

  int Run() {
    if (absl::Status s = Plan(); !s.ok()) return Fail(s);
    if (absl::Status s = PrepareOutput(); !s.ok()) return Fail(s);
    if (flags_.wan) {
      absl::StatusOr<std::unique_ptr<testbed::EmulatedWan>> up =
          testbed::EmulatedWan::Up(topology_, {flags_.tag, flags_.prometheus_server});
      if (!up.ok())
        return Fail(absl::UnavailableError(absl::StrCat("cannot bring the emulated WAN up: ", up.status().message())));
      wan_ = *std::move(up);
    }
    started_ = Clock::now();
    started_epoch_ = std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
    if (absl::Status s = StartControlService(); !s.ok()) return Fail(s);
    StartRedraw();
    Launch();
    StartController();
    WatchProgress();
    const int failed_workers = Stop();
    if (interrupted) {
      std::cerr << "geostorm local: interrupted; every process stopped" << (flags_.wan ? ", the WAN torn down" : "")
                << "\n";
      return 130;
    }
    return Report(failed_workers);
  }

 private:
  // Bad input exits 2, anything else 1.
  static int Fail(const absl::Status& s) {
    std::cerr << "geostorm local: " << s.message() << "\n";
    return absl::IsInvalidArgument(s) || absl::IsNotFound(s) ? 2 : 1;
  }

  double SinceStart() const { return std::chrono::duration<double>(Clock::now() - started_).count(); }
  int dcs() const { return static_cast<int>(topology_.data_centers.size()); }
  std::string EventFile(int dc) const { return absl::StrCat(out_, "/gateway-", topology_.data_centers[dc], ".events"); }

  // The topology at its scale, the sizes, and the first policy.
  absl::Status Plan() {
    absl::StatusOr<core::Topology> loaded = core::LoadTopologyFile(flags_.topology);
    if (!loaded.ok()) return absl::InvalidArgumentError(loaded.status().message());
    if (flags_.wan && ::geteuid() != 0) {
      return absl::InvalidArgumentError(
          "--wan needs root, for network namespaces and tc; without --wan the job runs on unshaped loopback");
    }
    topology_ = core::ScaleRates(*loaded, flags_.scale);
    model_ = std::llround(flags_.model_mb * 1e6) / 4 * 4;
    chunk_ = flags_.chunk_bytes > 0 ? flags_.chunk_bytes : core::AutoChunkBytes(model_);
    plan_options_.multipath = flags_.multipath;
    if (!flags_.star_root.empty()) {
      plan_options_.star_root = topology_.IndexOf(flags_.star_root);
      if (plan_options_.star_root < 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("--star-root ", flags_.star_root, ": no such DC in ", flags_.topology));
      }
    }
    for (const auto& [dc, factor] : flags_.slowdown) {
      if (topology_.IndexOf(dc) < 0 || factor < 1) {
        return absl::InvalidArgumentError(
            absl::StrCat("--slowdown ", dc, "=", factor, ": want a DC of ", flags_.topology, " and a factor >= 1"));
      }
    }
    absl::StatusOr<core::Policy> initial = core::PlanTopology(
        flags_.uniform_guess ? UniformGuess(topology_) : topology_, flags_.strategy, model_, chunk_, plan_options_);
    if (!initial.ok()) return absl::InvalidArgumentError(initial.status().message());
    initial_ = *std::move(initial);
    periods_ =
        nlohmann::json::array({{{"period", 0}, {"start_s", 0.0}, {"t_min_s", TMinAt(topology_, 0, model_, chunk_)}}});
    return absl::OkStatus();
  }

  // A fresh output directory; the controller logs into it, the terminal shows progress.
  absl::Status PrepareOutput() {
    std::error_code ec;
    fs::create_directories(flags_.out_dir, ec);
    if (ec) return absl::InvalidArgumentError(absl::StrCat("--out ", flags_.out_dir, ": ", ec.message()));
    out_ = fs::absolute(flags_.out_dir).string();
    for (const char* stale : {"/rollout-state.json", "/control.sock"}) fs::remove(out_ + stale, ec);
    for (int i = 0; i < dcs(); ++i) fs::remove(EventFile(i), ec);
    spdlog::set_default_logger(spdlog::basic_logger_mt("controller", out_ + "/controller.log", true));
    spdlog::flush_on(spdlog::level::info);
    std::signal(SIGINT, [](int) { interrupted = true; });
    std::signal(SIGTERM, [](int) { interrupted = true; });
    return absl::OkStatus();
  }

  // The control service, in this process, on a Unix socket that every namespace reaches.
  absl::Status StartControlService() {
    control::ControlServiceConfig service_config;
    service_config.job = kJob;
    service_config.gateways = topology_.data_centers;
    service_config.sync_mode = flags_.mode;
    service_config.esync.base_steps = flags_.local_steps;
    store_ = std::make_unique<control::FileStateStore>(out_ + "/rollout-state.json");
    absl::StatusOr<std::unique_ptr<control::ControlService>> service =
        control::ControlService::Create(service_config, store_.get(), initial_);
    if (!service.ok()) return absl::InvalidArgumentError(service.status().message());
    service_ = *std::move(service);
    control_address_ = absl::StrCat("unix:", out_, "/control.sock");
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort(control_address_, grpc::InsecureServerCredentials(), &port);
    builder.RegisterService(service_->grpc());
    server_ = builder.BuildAndStart();
    if (!server_ || port == 0) {
      return absl::UnavailableError(absl::StrCat("cannot start the control service on ", control_address_));
    }
    return absl::OkStatus();
  }

  // The controller's link matrix: from a Prometheus server of this run (--prometheus-server)
  // scraping every sidecar and the controller, from the --prometheus given, or from the
  // gateways' own reports.
  std::unique_ptr<control::LinkSource> LinkSource() {
    if (!flags_.prometheus_server) {
      return flags_.prometheus.empty()
                 ? control::MakeReportLinkSource(service_.get())
                 : control::MakePrometheusLinkSource(flags_.prometheus, kJob, std::chrono::seconds(5));
    }
    absl::StatusOr<std::unique_ptr<PrometheusServer>> started = StartPrometheus();
    if (!started.ok()) {
      std::cerr << "geostorm local: no Prometheus (" << started.status().message()
                << "); the controller reads the gateways' own reports instead\n";
      return control::MakeReportLinkSource(service_.get());
    }
    prometheus_ = *std::move(started);
    std::cerr << "geostorm local: Prometheus at " << prometheus_->url() << " (its data in " << out_
              << "/prometheus); the controller reads the link matrix from it\n";
    return control::MakePrometheusLinkSource(prometheus_->url(), kJob, std::chrono::seconds(5));
  }

  // Prometheus scraping every gateway (their metrics ports from their event files;
  // in a WAN, over its management network) and this process's controller metrics.
  absl::StatusOr<std::unique_ptr<PrometheusServer>> StartPrometheus() {
    std::vector<std::string> targets;
    for (int i = 0; i < dcs(); ++i) {
      int port = 0;
      for (int wait = 0; wait < 300 && port == 0 && !interrupted; ++wait) {
        port = ReadPorts(EventFile(i))["metrics"];
        if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      }
      if (port == 0) return absl::UnavailableError(absl::StrCat("gateway ", i, " did not say its metrics port"));
      // In a WAN's namespace, over its management network (unshaped, beside the WAN).
      targets.push_back(absl::StrCat(wan_ ? testbed::ManagementAddress(flags_.tag, i) : "127.0.0.1", ":", port));
    }
    try {  // prometheus-cpp throws when it cannot listen
      exposer_ = std::make_unique<prometheus::Exposer>("127.0.0.1:0");
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat("the controller's /metrics: ", e.what()));
    }
    exposer_->RegisterCollectable(registry_);
    targets.push_back(absl::StrCat("127.0.0.1:", exposer_->GetListeningPorts().front()));
    return PrometheusServer::Start(out_ + "/prometheus", targets);
  }

  // The controller's loop, unless the policy stays fixed.
  void StartController() {
    control::ControllerConfig config;
    config.job = kJob;
    config.replan.strategy = flags_.strategy;
    config.replan.min_improvement = flags_.min_improvement;
    config.replan.model_bytes = model_;
    config.replan.chunk_bytes = chunk_;
    config.replan.plan = plan_options_;
    config.interval = std::chrono::milliseconds(flags_.interval_ms);
    std::unique_ptr<control::LinkSource> source = LinkSource();
    controller_ =
        std::make_unique<control::Controller>(config, topology_, service_.get(), std::move(source), registry_);
    if (flags_.replan && !flags_.uniform_guess) loop_ = std::thread([this] { controller_->Run(stop_); });
  }

  // A dynamic topology's rates change live, every period.
  void StartRedraw() {
    if (!wan_ || !topology_.dynamic) return;
    const double period_s = flags_.period_s > 0 ? flags_.period_s : topology_.dynamic->period_seconds;
    redraw_ = std::thread([this, period_s] {
      absl::Status s = wan_->Redraw(period_s, stop_, [&](int64_t p) {
        std::lock_guard<std::mutex> lock(periods_mu_);
        periods_.push_back(
            {{"period", p}, {"start_s", SinceStart()}, {"t_min_s", TMinAt(topology_, p, model_, chunk_)}});
      });
      if (!s.ok()) std::cerr << "\ngeostorm local: the WAN's rates stopped changing: " << s.message() << "\n";
    });
  }

  // Sidecars and workers, as child processes logging into the output directory.
  // On loopback the DCs talk over Unix sockets; on the WAN over their namespaces' addresses.
  void Launch() {
    const Launcher launcher(wan_.get());
    const std::string bin = BinDir();
    std::map<std::string, std::string> addresses;
    for (int i = 0; i < dcs(); ++i) {
      addresses[topology_.data_centers[i]] = wan_
                                                 ? absl::StrCat(testbed::DcAddress(i), ":7000")
                                                 : absl::StrCat("unix:", out_, "/", topology_.data_centers[i], ".sock");
    }
    auto socket = [&](const std::string& dc, int w) { return absl::StrCat("unix:", out_, "/", dc, "-", w, ".sock"); };
    for (int i = 0; i < dcs(); ++i) {
      const std::string& dc = topology_.data_centers[i];
      GatewayFlags g;
      g.job = kJob;
      g.dc = dc;
      g.controller = control_address_;
      g.listen = addresses[dc];
      g.peers = addresses;
      g.worker_socket = socket(dc, 0);
      g.workers = flags_.workers;
      g.timeout_ms = flags_.timeout_ms;
      g.events = EventFile(i);
      g.sync_mode = flags_.mode;
      if (wan_ && flags_.prometheus_server) g.metrics = "0.0.0.0:0";  // reached over the management network
      sidecars_.push_back(launcher.Start(i, GatewayCommand(bin, g), absl::StrCat(out_, "/gateway-", dc, ".log")));
    }
    for (int i = 0; i < dcs(); ++i) {
      const std::string& dc = topology_.data_centers[i];
      for (int w = 1; w < flags_.workers; ++w) {
        const MemberFlags m{kJob, dc, addresses[dc], absl::StrCat(dc, "-", w), socket(dc, w), ""};
        sidecars_.push_back(
            launcher.Start(i, MemberCommand(bin, m), absl::StrCat(out_, "/member-", dc, "-", w, ".log")));
      }
    }
    for (int i = 0; i < dcs(); ++i) {
      const std::string& dc = topology_.data_centers[i];
      for (int w = 0; w < flags_.workers; ++w) {
        const std::string log = absl::StrCat(out_, "/worker-", dc, "-", w, ".log");
        if (!flags_.worker_command.empty()) {  // the user's worker, told where everything is
          UserWorkerFlags u{socket(dc, w), dc, i, dcs(), w, flags_.workers, flags_.iterations, out_, bin};
          if (auto slow = flags_.slowdown.find(dc); slow != flags_.slowdown.end()) u.slowdown = slow->second;
          u.global_lr = flags_.global_lr;
          workers_.push_back(
              launcher.Start(i, {"/bin/sh", "-c", flags_.worker_command}, log, UserWorkerEnvironment(u)));
          continue;
        }
        const WorkerFlags f{socket(dc, w), i, w, dcs(), flags_.workers, flags_.iterations, 0, true, {}};
        workers_.push_back(launcher.Start(i, WorkerCommand(bin, f), log));
      }
    }
    std::cerr << "geostorm local: " << dcs() << " DCs x " << flags_.workers << " workers, " << flags_.model_mb
              << " MB, " << flags_.strategy
              << (wan_ ? absl::StrCat(", emulated WAN at ", flags_.scale, "x the rates") : ", loopback") << "; logs in "
              << out_ << "\n";
  }

  std::vector<std::string> EventFiles() const {
    std::vector<std::string> files(dcs());
    for (int i = 0; i < dcs(); ++i) files[i] = EventFile(i);
    return files;
  }

  // The progress bar, from the gateways' event files, until every worker is done.
  void WatchProgress() {
    int shown = 0;
    cpu_launched_ = CpuTimes::Now();
    for (;;) {
      const auto iterations = ReadIterations(EventFiles());
      const auto done = std::count_if(iterations.begin(), iterations.end(),
                                      [&](const auto& entry) { return entry.second.gateways == dcs(); });
      Progress(static_cast<int>(done), flags_.iterations, &shown);
      if (done > 0 && cpu_from_.total == 0) cpu_from_ = CpuTimes::Now();  // start-up and planning left out
      if (interrupted) break;
      if (std::none_of(workers_.begin(), workers_.end(), [](bp::child& c) { return c.running(); })) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
    cpu_to_ = CpuTimes::Now();
    if (::isatty(STDERR_FILENO)) std::cerr << "\n";
  }

  // Stops every process and thread, the WAN last. Returns the workers that failed.
  int Stop() {
    int failed_workers = 0;
    for (bp::child& w : workers_) {
      if (w.running()) w.terminate();
      w.wait();
      failed_workers += w.exit_code() != 0;
    }
    workers_.clear();
    for (bp::child& s : sidecars_) {
      if (s.running()) ::kill(s.id(), SIGTERM);
    }
    for (bp::child& s : sidecars_) s.wait();
    sidecars_.clear();
    stop_ = true;
    if (service_) service_->Shutdown();
    if (loop_.joinable()) loop_.join();
    if (redraw_.joinable()) redraw_.join();
    if (server_) server_->Shutdown(std::chrono::system_clock::now() + std::chrono::milliseconds(200));
    prometheus_.reset();
    wan_.reset();
    return failed_workers;
  }

  // summary.json and the lines on the terminal.
  int Report(int failed_workers) {
    std::vector<double> times, gaps;
    nlohmann::json summary = {{"topology", topology_.name},  {"strategy", flags_.strategy},
                              {"model_mb", flags_.model_mb}, {"workers_per_dc", flags_.workers},
                              {"wan", flags_.wan},           {"scale", flags_.scale},
                              {"periods", periods_},         {"iterations", nlohmann::json::array()}};
    // Two measures of an iteration: the slowest gateway's call, and the wall-clock
    // gap between successive iterations done everywhere (the throughput). They
    // differ when iterations overlap or a rollout holds one.
    const std::map<uint64_t, IterationRecord> iterations = ReadIterations(EventFiles());
    for (const auto& [t, it] : iterations) {
      if (it.gateways != dcs()) continue;
      times.push_back(it.seconds);
      if (auto before = iterations.find(t - 1); t > 0 && before != iterations.end() && before->second.gateways == dcs())
        gaps.push_back(it.done_at - before->second.done_at);
      summary["iterations"].push_back({{"iteration", t},
                                       {"seconds", it.seconds},
                                       {"policy_version", it.policy_version},
                                       {"done_at_s", it.done_at - started_epoch_}});
    }
    summary["failed_iterations"] = nlohmann::json::array();
    for (const auto& [t, error] : ReadFailures(EventFiles()))
      summary["failed_iterations"].push_back({{"iteration", t}, {"error", error}});
    const double t_min = TMinAt(topology_, 0, model_, chunk_);
    const double predicted = Predict(topology_, initial_, model_, chunk_);
    const double median = Quantile(times, 0.5);
    const int64_t committed = service_->counters().committed;
    summary["median_s"] = median;
    summary["p90_s"] = Quantile(times, 0.9);
    summary["throughput_s"] = Quantile(gaps, 0.5);
    summary["started_at"] = started_epoch_;  // the event files' clock at the run's start (done_at_s = 0)
    summary["t_min_s"] = t_min;
    summary["predicted_s"] = predicted;
    summary["rollouts_committed"] = committed;
    summary["failed_workers"] = failed_workers;
    // After the first iteration; a run too short for that to span a tick, all of it.
    double cpu_busy = cpu_from_.total > 0 ? BusyShare(cpu_from_, cpu_to_) : -1;
    if (cpu_busy < 0) cpu_busy = BusyShare(cpu_launched_, cpu_to_);
    if (cpu_busy >= 0) summary["cpu_busy"] = cpu_busy;
    std::ofstream(out_ + "/summary.json") << summary.dump(2) << "\n";
    std::printf("%d/%d iterations finished on every DC; median %.3f s, p90 %.3f s per call, %.3f s apart\n",
                static_cast<int>(times.size()), flags_.iterations, median, Quantile(times, 0.9), Quantile(gaps, 0.5));
    if (flags_.wan) {
      std::printf("the emulated WAN: T_min %.3f s, median %.2f x T_min; policy v1 predicted %.3f s (%+.0f%%)\n", t_min,
                  median / t_min, predicted, predicted > 0 ? 100 * (median - predicted) / predicted : 0.0);
    } else {
      std::printf(
          "the topology's WAN: T_min %.3f s, policy v1 predicted %.3f s. This run is on unshaped loopback,\n"
          "where the WAN's rates do not apply and the CPU bounds the time.\n",
          t_min, predicted);
    }
    if (flags_.wan && cpu_busy >= kCpuBound) {
      std::printf(
          "the machine's CPUs were %.0f%% busy during the iterations: the times above are bounded by\n"
          "the CPU that every DC shares here, not only by the emulated WAN\n",
          100 * cpu_busy);
    }
    std::printf("policies committed: %lld; summary in %s/summary.json\n", static_cast<long long>(committed),
                out_.c_str());
    if (failed_workers > 0) {
      std::fprintf(stderr, "geostorm local: %d workers reported failed iterations; see %s/worker-*.log\n",
                   failed_workers, out_.c_str());
      return 1;
    }
    return 0;
  }

  static constexpr const char* kJob = "local";
  static constexpr double kCpuBound = 0.9;  // busy share above which the CPU is the bottleneck
  const LocalFlags& flags_;
  core::Topology topology_;
  int64_t model_ = 0, chunk_ = 0;
  core::PlanOptions plan_options_;
  core::Policy initial_;
  std::string out_, control_address_;
  Clock::time_point started_ = Clock::now();
  double started_epoch_ = 0;  // the same moment, on the clock of the event files
  // The machine's CPU (every DC's processes) when the workers were launched, when the
  // first iteration was done everywhere, and when the last worker exited.
  CpuTimes cpu_launched_, cpu_from_, cpu_to_;
  std::unique_ptr<testbed::EmulatedWan> wan_;
  std::unique_ptr<control::FileStateStore> store_;
  std::unique_ptr<control::ControlService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<control::Controller> controller_;
  std::shared_ptr<prometheus::Registry> registry_ = std::make_shared<prometheus::Registry>();
  std::unique_ptr<prometheus::Exposer> exposer_;
  std::unique_ptr<PrometheusServer> prometheus_;
  std::atomic<bool> stop_{false};
  std::thread loop_, redraw_;
  std::mutex periods_mu_;
  nlohmann::json periods_;  // under periods_mu_ while redraw_ runs
  std::vector<bp::child> sidecars_, workers_;
};

}  // namespace

int RunLocal(const LocalFlags& flags) { return LocalRun(flags).Run(); }

}  // namespace geostorm::cli
