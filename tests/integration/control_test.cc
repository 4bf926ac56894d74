// The policy controller with real sidecar, worker and Prometheus processes on
// loopback: every rollout keeps each iteration on one policy version everywhere,
// every sum stays exact, and faults (a controller killed mid-rollout, a gateway
// that never acknowledges, a restarted gateway, Prometheus going away) resolve.
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "tests/support/local_job.h"

namespace geostorm {
namespace {

using testing::HttpGet;
using testing::JobSpec;
using testing::LocalJob;
using testing::Process;

constexpr auto kWorkerWait = std::chrono::seconds(120);

JobSpec ControlledJob(int iterations) {
  JobSpec spec;
  spec.topology = "mesh-5dc-hetero.yaml";
  spec.strategy = "netstorm";
  spec.iterations = iterations;
  spec.with_controller = true;
  return spec;
}

void ExpectAllExact(LocalJob& job) {
  for (int code : job.WaitWorkers(kWorkerWait)) {
    ASSERT_EQ(code, 0) << job.WorkerLogs() << "\ncontroller:\n"
                       << job.ControllerLog() << "\ngateway 0:\n"
                       << job.GatewayLog(0);
  }
}

// Every gateway ran each of `iterations` on the same version; returns those versions.
std::map<uint64_t, uint64_t> ExpectOneVersionPerIteration(const LocalJob& job, uint64_t first, int iterations) {
  const std::map<uint64_t, uint64_t> reference = job.VersionsOf(0);
  for (uint64_t t = first; t < first + iterations; ++t) {
    EXPECT_TRUE(reference.count(t)) << "gateway 0 logged no version for iteration " << t;
  }
  for (int i = 1; i < job.dcs(); ++i) {
    const std::map<uint64_t, uint64_t> versions = job.VersionsOf(i);
    for (uint64_t t = first; t < first + iterations; ++t) {
      auto it = versions.find(t);
      EXPECT_NE(it, versions.end()) << "gateway " << i << " logged no version for iteration " << t;
      if (it != versions.end()) {
        EXPECT_EQ(it->second, reference.at(t)) << "iteration " << t << ": gateway " << i << " differs from gateway 0";
      }
    }
  }
  return reference;
}

// Every gateway, `deaf` one never acknowledging a Prepare.
void StartGatewaysOneIgnoringPrepare(LocalJob& job, int deaf) {
  for (int i = 0; i < job.dcs(); ++i) {
    job.StartGatewayWithFlags(
        i, i == deaf ? std::vector<std::string>{"--inject-ignore-prepare"} : std::vector<std::string>{});
  }
}

double Metric(int port, const std::string& series) {
  const std::string body = HttpGet(port, "/metrics");
  std::smatch m;
  const std::regex line("^" + series + "\\S* ([0-9.e+-]+)$", std::regex::multiline);
  return std::regex_search(body, m, line) ? std::stod(m[1]) : -1;
}

bool WaitFor(const std::function<bool()>& condition, std::chrono::seconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (condition()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return condition();
}

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(Rollout, NewPolicyEveryIterationWithRandomDelaysStaysExactAndConsistent) {
  LocalJob job(ControlledJob(50));
  job.StartController({"--force-every-iteration", "--inject-delay-ms", "5"});
  for (int i = 0; i < job.dcs(); ++i) job.StartGatewayWithFlags(i, {"--inject-delay-ms", "2"});
  job.StartWorkers(0, 50);
  ExpectAllExact(job);
  const std::map<uint64_t, uint64_t> versions = ExpectOneVersionPerIteration(job, 0, 50);
  std::set<uint64_t> distinct;
  uint64_t last = 0;
  for (const auto& [t, v] : versions) {
    EXPECT_GE(v, last) << "iteration " << t << " went back to an older policy";
    last = v;
    distinct.insert(v);
  }
  // A rollout takes a little over an iteration here; most iterations get a new policy.
  EXPECT_GE(distinct.size(), 15u) << job.ControllerLog();
}

TEST(Rollout, AGatewayThatNeverAcknowledgesAbortsTheRolloutAndTrainingGoesOn) {
  LocalJob job(ControlledJob(10));
  job.StartController({"--force-every-iteration", "--prepare-timeout-ms", "300"});
  StartGatewaysOneIgnoringPrepare(job, 2);
  job.StartWorkers(0, 10);
  ExpectAllExact(job);
  for (const auto& [t, v] : ExpectOneVersionPerIteration(job, 0, 10)) EXPECT_EQ(v, 1u) << "iteration " << t;
  EXPECT_NE(job.ControllerLog().find(absl::StrCat("no acknowledgement from ", job.policy().data_centers[2])),
            std::string::npos)
      << job.ControllerLog();
  EXPECT_GE(Metric(job.controller_metrics_port(), "geostorm_controller_rollouts_total\\{[^}]*outcome=\"aborted\""), 1);
  EXPECT_EQ(Metric(job.controller_metrics_port(), "geostorm_controller_rollouts_total\\{[^}]*outcome=\"committed\""),
            0);
}

TEST(Rollout, AControllerKilledMidRolloutIsResolvedByItsRestart) {
  LocalJob job(ControlledJob(20));
  // DC 4 never acknowledges, so the first rollout stays prepared until the kill.
  job.StartController({"--force-every-iteration", "--prepare-timeout-ms", "60000"});
  StartGatewaysOneIgnoringPrepare(job, 4);
  job.StartWorkers(0, 20);
  ASSERT_TRUE(WaitFor([&] { return ReadFile(job.state_file()).find("\"pending\"") != std::string::npos; },
                      std::chrono::seconds(20)))
      << job.ControllerLog();
  job.controller().Signal(SIGKILL);
  ASSERT_TRUE(job.controller().Wait(std::chrono::seconds(5)).has_value());
  // The prepared gateways now hold iteration activate_at; a restart must free them.
  // (No re-planning after the restart: this test is about the interrupted rollout.)
  job.StartController({"--interval-ms", "600000", "--min-improvement", "1"});
  ExpectAllExact(job);
  for (const auto& [t, v] : ExpectOneVersionPerIteration(job, 0, 20)) EXPECT_EQ(v, 1u) << "iteration " << t;
  // The workers may finish before the restarted controller has loaded its state
  // (a rollout the gateways never saw does not hold them): wait for it.
  EXPECT_TRUE(WaitFor(
      [&] {
        return job.ControllerLog().find("interrupted by a restart: aborting it") != std::string::npos &&
               ReadFile(job.state_file()).find("\"pending\"") == std::string::npos;
      },
      std::chrono::seconds(15)))
      << job.ControllerLog();
}

TEST(Rollout, ARestartedGatewayGetsTheCurrentPolicyBeforeItTakesPart) {
  LocalJob job(ControlledJob(10));
  job.StartController({"--force-every-iteration"});
  job.StartSidecars();
  job.StartWorkers(0, 10);
  ExpectAllExact(job);
  const uint64_t before = job.VersionsOf(1).at(9);
  ASSERT_GT(before, 1u) << "no rollout committed before the restart";

  job.gateway(1).Signal(SIGKILL);
  ASSERT_TRUE(job.gateway(1).Wait(std::chrono::seconds(5)).has_value());
  job.StartGateway(1);
  job.StartWorkers(10, 10);
  ExpectAllExact(job);
  const std::map<uint64_t, uint64_t> versions = ExpectOneVersionPerIteration(job, 10, 10);
  EXPECT_GE(versions.at(10), before) << "the restarted gateway ran an older policy than before";
}

TEST(Rollout, ControllerAndGatewaysSpeakMutualTls) {
  testing::TempDir certs;
  const testing::Certificates c = testing::MakeCertificates(certs.path(), "job");
  JobSpec spec = ControlledJob(8);
  spec.sidecar_flags = {"--tls-cert", c.cert, "--tls-key", c.key, "--tls-ca", c.ca};
  LocalJob job(spec);
  job.StartController({"--force-every-iteration", "--tls-cert", c.cert, "--tls-key", c.key, "--tls-ca", c.ca});
  job.StartSidecars();
  job.StartWorkers(0, 8);
  ExpectAllExact(job);
  const std::map<uint64_t, uint64_t> versions = ExpectOneVersionPerIteration(job, 0, 8);
  EXPECT_GT(versions.at(7), 1u) << "no policy was rolled out over TLS";
}

// The Debian prometheus server, scraping the gateways every second. It cannot bind
// port 0 and say which it got, so its port is chosen before it starts.
class PrometheusServer {
 public:
  PrometheusServer(const std::string& dir, int port, const std::vector<int>& targets) : port_(port) {
    std::ofstream config(dir + "/prometheus.yml");
    config << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
           << "scrape_configs:\n  - job_name: geostorm\n    honor_labels: true  # keep the sidecars' own job label\n   "
              " static_configs:\n      - targets: [";
    for (size_t i = 0; i < targets.size(); ++i) config << (i ? ", " : "") << "'127.0.0.1:" << targets[i] << "'";
    config << "]\n";
    config.close();
    process_ = std::make_unique<Process>(
        std::vector<std::string>{"/usr/bin/prometheus", "--config.file=" + dir + "/prometheus.yml",
                                 "--storage.tsdb.path=" + dir + "/tsdb",
                                 absl::StrCat("--web.listen-address=127.0.0.1:", port_)},
        dir + "/prometheus.log");
  }
  int port() const { return port_; }
  Process& process() { return *process_; }

 private:
  int port_;
  std::unique_ptr<Process> process_;
};

// src/dst -> value of every series of `name` on the page.
std::map<std::string, double> LinkSeries(int port, const std::string& name) {
  std::map<std::string, double> out;
  const std::string body = HttpGet(port, "/metrics");
  const std::regex line("^" + name + R"(\{([^}]*)\} ([0-9.e+-]+)$)", std::regex::multiline);
  const std::regex src("src=\"([^\"]+)\""), dst("dst=\"([^\"]+)\"");
  for (auto it = std::sregex_iterator(body.begin(), body.end(), line); it != std::sregex_iterator(); ++it) {
    const std::string labels = (*it)[1];
    std::smatch s, d;
    if (std::regex_search(labels, s, src) && std::regex_search(labels, d, dst)) {
      out[absl::StrCat(s[1].str(), "->", d[1].str())] = std::stod((*it)[2]);
    }
  }
  return out;
}

TEST(Prometheus, TheControllersMatrixMatchesTheSidecarsAndSurvivesPrometheusStopping) {
  if (access("/usr/bin/prometheus", X_OK) != 0) GTEST_SKIP() << "needs the Debian prometheus package";
  JobSpec spec = ControlledJob(15);
  spec.model_bytes = 8 << 20;
  LocalJob job(spec);
  // The gateways pick their metrics ports, so Prometheus starts once they have.
  const int prometheus_port = testing::FreePort();
  // A high bar for new policies: this test is about the matrix, not rollouts.
  job.StartController({"--prometheus", absl::StrCat("http://127.0.0.1:", prometheus_port), "--interval-ms", "500",
                       "--min-improvement", "0.95"});
  job.StartSidecars();
  std::vector<int> targets;
  for (int i = 0; i < job.dcs(); ++i) targets.push_back(job.gateway_metrics_port(i));
  PrometheusServer prometheus(job.dir(), prometheus_port, targets);
  ASSERT_TRUE(WaitFor([&] { return !HttpGet(prometheus.port(), "/-/ready").empty(); }, std::chrono::seconds(30)));
  job.StartWorkers(0, 15);
  ExpectAllExact(job);

  // Traffic has stopped, so the estimates hold still (the last acknowledgements may
  // still move them for a moment); once Prometheus has scraped them and the
  // controller has read them, the two must agree.
  std::map<std::string, double> sidecars, controller;
  const bool matched = WaitFor(
      [&] {
        sidecars.clear();
        for (int i = 0; i < job.dcs(); ++i) {
          for (const auto& [link, rate] :
               LinkSeries(job.gateway_metrics_port(i), "geostorm_link_throughput_bytes_per_second")) {
            if (rate > 0) sidecars[link] = rate;
          }
        }
        controller = LinkSeries(job.controller_metrics_port(), "geostorm_controller_link_bytes_per_second");
        for (const auto& [link, rate] : sidecars) {
          auto it = controller.find(link);
          if (it == controller.end() || std::abs(it->second - rate) > 1e-6 * rate) return false;
        }
        return sidecars.size() >= 4;
      },
      std::chrono::seconds(20));
  std::string both;
  for (const auto& [link, rate] : sidecars) {
    absl::StrAppend(&both, link, ": sidecar ", rate, ", controller ", controller.count(link) ? controller[link] : -1,
                    "\n");
  }
  EXPECT_GE(sidecars.size(), 4u) << "the sidecars measured too few links";
  EXPECT_TRUE(matched) << "sidecars and controller disagree:\n" << both << job.ControllerLog();
  EXPECT_EQ(Metric(job.controller_metrics_port(), "geostorm_controller_source_up"), 1);

  // While Prometheus is up the controller re-plans every interval.
  const std::string replans = "geostorm_controller_replan_duration_seconds_count";
  const double replans_up = Metric(job.controller_metrics_port(), replans);
  EXPECT_TRUE(
      WaitFor([&] { return Metric(job.controller_metrics_port(), replans) > replans_up; }, std::chrono::seconds(5)));

  // Prometheus goes away: the source is marked stale and the policy stays.
  prometheus.process().Signal(SIGTERM);
  ASSERT_TRUE(prometheus.process().Wait(std::chrono::seconds(20)).has_value());
  EXPECT_TRUE(WaitFor([&] { return Metric(job.controller_metrics_port(), "geostorm_controller_source_up") == 0; },
                      std::chrono::seconds(10)));
  EXPECT_NE(job.ControllerLog().find("link matrix source is stale"), std::string::npos) << job.ControllerLog();
  // The re-plan count stands still for eight intervals: nothing is planned on a
  // matrix the controller cannot refresh.
  const double replans_when_down = Metric(job.controller_metrics_port(), replans);
  EXPECT_GT(replans_when_down, 0);
  std::this_thread::sleep_for(std::chrono::seconds(4));
  EXPECT_EQ(Metric(job.controller_metrics_port(), replans), replans_when_down);
  job.StartWorkers(15, 3);
  ExpectAllExact(job);
  const std::map<uint64_t, uint64_t> versions = ExpectOneVersionPerIteration(job, 15, 3);
  EXPECT_EQ(versions.at(17), versions.at(14)) << "the policy changed while the source was down";
}

}  // namespace
}  // namespace geostorm
