// Real sidecar and worker processes on loopback: every worker must get back the
// exact sum of every worker's gradient, every iteration, for every strategy.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "operator/controllers/certificates.h"
#include "tests/support/local_job.h"

namespace geostorm {
namespace {

using testing::JobSpec;
using testing::LocalJob;

constexpr char kTwoDcs[] = "kind: mesh\ndataCenters: [east, west]\nmbps: {east: {west: 200}, west: {east: 80}}\n";

void ExpectExactRun(const JobSpec& spec) {
  LocalJob job(spec);
  job.StartSidecars();
  job.StartWorkers(0, spec.iterations);
  const std::vector<int> codes = job.WaitWorkers(std::chrono::seconds(120));
  for (int code : codes) ASSERT_EQ(code, 0) << job.WorkerLogs() << "\ngateway 0:\n" << job.GatewayLog(0);
  // Exit code 0: every iteration was exact. And every gateway recorded the last one.
  for (int i = 0; i < job.dcs(); ++i) EXPECT_TRUE(job.VersionsOf(i).count(spec.iterations - 1)) << "gateway " << i;
  if (!job.policy().aux_routes.empty()) {
    EXPECT_GT(job.SumMetric("geostorm_chunks_total", {"outcome=\"relayed\""}), 0) << "aux routes unused";
  }
}

struct Case {
  std::string topology;
  int workers;
};

class ExactSums : public ::testing::TestWithParam<std::tuple<Case, std::string>> {};

TEST_P(ExactSums, EveryWorkerGetsTheExactSumFor20Iterations) {
  const auto& [c, strategy] = GetParam();
  JobSpec spec;
  spec.topology = c.topology;
  spec.strategy = strategy;
  spec.workers = c.workers;
  ExpectExactRun(spec);
}

INSTANTIATE_TEST_SUITE_P(Loopback, ExactSums,
                         ::testing::Combine(::testing::Values(Case{kTwoDcs, 1}, Case{kTwoDcs, 3},
                                                              Case{"mesh-4dc-uniform.yaml", 1},
                                                              Case{"mesh-4dc-uniform.yaml", 3},
                                                              Case{"klonet-9dc.yaml", 1}, Case{"klonet-9dc.yaml", 3}),
                                            ::testing::Values("star", "ring", "netstorm-paper", "netstorm")),
                         [](const auto& info) {
                           const Case& c = std::get<0>(info.param);
                           std::string name = c.topology == kTwoDcs ? "two-dcs" : c.topology.substr(0, 10);
                           name = absl::StrCat(name, "_w", c.workers, "_", std::get<1>(info.param));
                           for (char& ch : name) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return name;
                         });

TEST(NamedTensors, WorkersHandingThemInTheirOwnOrderGetExactSums) {
  JobSpec spec;
  spec.topology = kTwoDcs;
  spec.strategy = "netstorm";
  spec.workers = 3;
  spec.iterations = 5;
  spec.worker_flags = {"--tensors", "4"};  // each of the 6 workers rotates the list differently
  ExpectExactRun(spec);
}

TEST(NamedTensors, OtherTensorsInAnotherDcFailTheIterationSayingSo) {
  JobSpec spec;
  spec.topology = kTwoDcs;
  spec.strategy = "star";
  spec.iterations = 1;
  spec.timeout_ms = 4000;
  spec.worker_flags = {"--tensors", "3"};
  spec.dc_worker_flags[1] = {"--tensors", "2"};  // the last one wins
  LocalJob job(spec);
  job.StartSidecars();
  job.StartWorkers(0, 1);
  const std::vector<int> codes = job.WaitWorkers(std::chrono::seconds(30));
  ASSERT_EQ(codes, (std::vector<int>{3, 3})) << job.WorkerLogs();  // both failed, neither got a sum
  // The root's DC is told why; the other may only see its iteration time out.
  const int root = job.policy().shards[0].root;
  const std::string logs = job.WorkerLogs();
  EXPECT_NE(logs.find("has tensor layout"), std::string::npos) << logs;
  EXPECT_NE(job.GatewayLog(root).find("every worker must all-reduce the same tensor names and sizes"),
            std::string::npos);
}

// Members start with no policy file, as the operator starts them: they take the
// model and chunk sizes, the job's workers and the iteration timeout from their
// gateway. The gateways' timeout is set, so that the members' can come from nowhere
// else (their own default would be the 30 s floor).
TEST(Members, TakeTheJobsShapeAndTimeoutFromTheirGateway) {
  JobSpec spec;
  spec.topology = kTwoDcs;
  spec.strategy = "netstorm";
  spec.workers = 3;
  spec.iterations = 3;
  spec.timeout_ms = 45000;
  LocalJob job(spec);
  job.StartSidecars();
  job.StartWorkers(0, spec.iterations);
  for (int code : job.WaitWorkers(std::chrono::seconds(60))) ASSERT_EQ(code, 0) << job.WorkerLogs() << job.MemberLogs();
  const std::string timeout = "iteration timeout 45000 ms";
  EXPECT_NE(job.GatewayLog(0).find(timeout), std::string::npos) << job.GatewayLog(0);
  const std::string members = job.MemberLogs();
  size_t said = 0;
  for (size_t at = members.find(timeout); at != std::string::npos; at = members.find(timeout, at + 1)) ++said;
  EXPECT_EQ(said, 4u) << members;  // 2 members in each of 2 DCs

  // A member pointed at another job's gateway refuses to start, saying so.
  testing::Process stray(
      {testing::Bin("geostorm-sidecar"), "--job", "other", "--dc", "east", "--gateway", job.GatewayAddress(0),
       "--member-id", "stray", "--worker-listen", "unix:" + job.dir() + "/stray.sock", "--insecure"},
      job.dir() + "/stray.log");
  ASSERT_EQ(stray.Wait(std::chrono::seconds(20)), std::optional<int>(2)) << stray.Log();
  EXPECT_NE(stray.Log().find("serves job 'job' in DC 'east', not job 'other'"), std::string::npos) << stray.Log();
}

TEST(ExactSumsLarge, RelayRoutesAnd64MiBGradients) {
  JobSpec spec;
  spec.topology = "mesh-5dc-hetero.yaml";
  spec.strategy = "netstorm-paper";  // plans aux relay routes on this mesh
  spec.model_bytes = 64 << 20;
  spec.iterations = 3;
  spec.timeout_ms = 60000;
  LocalJob probe(spec);
  ASSERT_FALSE(probe.policy().aux_routes.empty());
  ExpectExactRun(spec);
}

TEST(Faults, KilledPeerFailsTheIterationInTimeAndTheJobRecovers) {
  JobSpec spec;
  spec.topology = "mesh-4dc-uniform.yaml";
  spec.strategy = "netstorm";
  spec.timeout_ms = 2000;
  LocalJob job(spec);
  job.StartSidecars();
  job.StartWorkers(0, 3);
  for (int code : job.WaitWorkers(std::chrono::seconds(30))) ASSERT_EQ(code, 0) << job.WorkerLogs();

  // Kill DC 2's gateway, then run an iteration: it must fail on every worker
  // within the timeout, with an error, not hang.
  job.gateway(2).Signal(SIGKILL);
  ASSERT_TRUE(job.gateway(2).Wait(std::chrono::seconds(5)).has_value());
  // (DC 2's own worker cannot reach its sidecar at all; it gives up after 10 s.)
  job.StartWorkers(3, 1);
  const std::vector<int> codes = job.WaitWorkers(std::chrono::seconds(6));  // timeout 2 s + slack
  for (size_t w = 0; w < codes.size(); ++w) {
    if (w != 2) {
      EXPECT_EQ(codes[w], 3) << job.WorkerLogs();  // 3: the iteration failed, in time
    }
  }
  EXPECT_NE(job.WorkerLogs().find("iteration 3 failed: iteration 3: iteration 3: result chunk"), std::string::npos)
      << job.WorkerLogs();
  job.WaitWorkers(std::chrono::seconds(15));

  // Bring it back: the next iterations are exact again.
  job.StartGateway(2);
  job.StartWorkers(4, 3);
  for (int code : job.WaitWorkers(std::chrono::seconds(30))) {
    EXPECT_EQ(code, 0) << job.WorkerLogs() << "\ngateway 0:\n"
                       << job.GatewayLog(0) << "\ngateway 2:\n"
                       << job.GatewayLog(2);
  }
}

TEST(WorkerSocket, OnlyItsOwnerAndGroupMayConnect) {
  JobSpec spec;
  spec.topology = kTwoDcs;
  spec.strategy = "star";
  LocalJob job(spec);
  job.StartGateway(0);
  ASSERT_GT(job.gateway_metrics_port(0), 0) << job.GatewayLog(0);  // serving, so the socket is made
  const std::string path = job.WorkerSocket(0, 0).substr(5);       // past "unix:"
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0) << path;
  EXPECT_TRUE(S_ISSOCK(st.st_mode));
  EXPECT_EQ(st.st_mode & 0777, 0660u);  // rw for the owner and the pod's group, nothing for others
  EXPECT_EQ(st.st_uid, ::getuid());
}

TEST(MutualTls, SidecarsWithCertificatesFromTheJobCaSumExactly) {
  testing::TempDir certs;
  const testing::Certificates c = testing::MakeCertificates(certs.path(), "job");
  JobSpec spec;
  spec.topology = "mesh-4dc-uniform.yaml";
  spec.strategy = "netstorm";
  spec.iterations = 3;
  spec.sidecar_flags = {"--tls-cert", c.cert, "--tls-key", c.key, "--tls-ca", c.ca};
  ExpectExactRun(spec);
}

// Each DC's sidecar presents its own certificate, as the operator issues them, and
// relays chunks over aux routes: a receiver takes a relayed chunk from the relay's
// connection because the policy routes the sender's chunks through it.
TEST(MutualTls, SidecarsWithTheirOwnDcsCertificatesSumExactlyOverRelays) {
  testing::TempDir certs;
  const testing::Certificates job_ca = testing::MakeCertificates(certs.path(), "job");
  JobSpec spec;
  spec.topology = "mesh-5dc-hetero.yaml";
  spec.strategy = "netstorm-paper";  // plans aux relay routes on this mesh
  spec.iterations = 3;
  LocalJob job(spec);
  ASSERT_FALSE(job.policy().aux_routes.empty());
  for (int i = 0; i < job.dcs(); ++i) {
    const std::string& dc = job.policy().data_centers[i];
    const testing::Certificates c = testing::MakeCertificate(
        job_ca, certs.path(), dc, absl::StrCat("IP:127.0.0.1,DNS:localhost,DNS:", dc, ".job.geostorm"), 1);
    job.StartGatewayWithFlags(i, {"--tls-cert", c.cert, "--tls-key", c.key, "--tls-ca", c.ca});
  }
  job.StartWorkers(0, spec.iterations);
  for (int code : job.WaitWorkers(std::chrono::seconds(60))) ASSERT_EQ(code, 0) << job.WorkerLogs();
  EXPECT_GT(job.SumMetric("geostorm_chunks_total", {"outcome=\"relayed\""}), 0);
  EXPECT_EQ(job.SumMetric("geostorm_chunks_total", {"outcome=\"rejected\""}), 0);
}

// DC east (the job's certificate) and DC west (`west`, trusting the job's CA) run
// one iteration.
struct WestPresenting {
  std::vector<int> codes;  // the workers' exit codes, east's first
  std::string east_log;
};
WestPresenting RunWithWestPresenting(const testing::Certificates& job_certificate, const testing::Certificates& west) {
  JobSpec spec;
  spec.topology = kTwoDcs;
  spec.strategy = "star";
  spec.timeout_ms = 2000;
  spec.sidecar_flags = {"--tls-cert",        job_certificate.cert, "--tls-key",
                        job_certificate.key, "--tls-ca",           job_certificate.ca};
  LocalJob job(spec);
  job.StartGateway(0);
  job.StartGatewayWithFlags(1, {"--tls-cert", west.cert, "--tls-key", west.key, "--tls-ca", job_certificate.ca});
  job.StartWorkers(0, 1);
  std::vector<int> codes = job.WaitWorkers(std::chrono::seconds(20));
  EXPECT_EQ(codes.size(), 2u);
  codes.resize(2);
  return {codes, job.GatewayLog(0)};
}

TEST(MutualTls, APeerWithACertificateFromAnotherCaIsRefused) {
  testing::TempDir certs;
  // West presents a certificate the job's CA never signed: neither side accepts the
  // other, and the iteration fails on both workers.
  const WestPresenting run = RunWithWestPresenting(testing::MakeCertificates(certs.path(), "job"),
                                                   testing::MakeCertificates(certs.path(), "rogue"));
  EXPECT_EQ(run.codes, (std::vector<int>{3, 3}));
}

TEST(MutualTls, AnExpiredCertificateIsRefused) {
  testing::TempDir certs;
  const testing::Certificates job = testing::MakeCertificates(certs.path(), "job");
  const WestPresenting run = RunWithWestPresenting(
      job, testing::MakeCertificate(job, certs.path(), "expired", "IP:127.0.0.1,DNS:localhost,DNS:*.job.geostorm", -1));
  EXPECT_EQ(run.codes, (std::vector<int>{3, 3}));
}

TEST(MutualTls, APeerWithAnotherDcsCertificateIsRefused) {
  testing::TempDir certs;
  const testing::Certificates job = testing::MakeCertificates(certs.path(), "job");
  // From the job's CA and for the address dialled (127.0.0.1), but for DC east: east,
  // dialling west, wants west.job.geostorm and refuses it, so west never gets the
  // sum; and east, receiving west's chunks over a connection certified for east,
  // refuses them, so east never has it either.
  const WestPresenting run = RunWithWestPresenting(
      job,
      testing::MakeCertificate(job, certs.path(), "impostor", "IP:127.0.0.1,DNS:localhost,DNS:east.job.geostorm", 1));
  EXPECT_EQ(run.codes, (std::vector<int>{3, 3}));
  EXPECT_NE(run.east_log.find("a chunk from 'west' came over a connection whose certificate is for 'east'"),
            std::string::npos)
      << run.east_log;
}

// A Secret volume as the kubelet keeps it: tls.crt and tls.key are links into
// ..data, a link to the current version's directory, which a renewal replaces in one
// rename.
class SecretVolume {
 public:
  explicit SecretVolume(std::string dir) : dir_(std::move(dir)) { std::filesystem::create_directories(dir_); }
  std::string cert() const { return dir_ + "/tls.crt"; }
  std::string key() const { return dir_ + "/tls.key"; }

  void Write(const controllers::KeyPair& pair) {
    namespace fs = std::filesystem;
    const std::string version = absl::StrCat("v", ++versions_);
    fs::create_directory(dir_ + "/" + version);
    std::ofstream(dir_ + "/" + version + "/tls.crt") << pair.cert_pem;
    std::ofstream(dir_ + "/" + version + "/tls.key") << pair.key_pem;
    fs::create_symlink(version, dir_ + "/..data_tmp");
    fs::rename(dir_ + "/..data_tmp", dir_ + "/..data");
    if (versions_ == 1) {
      fs::create_symlink("..data/tls.crt", cert());
      fs::create_symlink("..data/tls.key", key());
    }
  }

 private:
  std::string dir_;
  int versions_ = 0;
};

// The operator renews a DC's certificate in its Secret; the kubelet swaps the files
// under the running sidecar, which reads them again every --tls-reload-s. Both
// gateways start with certificates that expire 12 s in, renewed ones replace them
// while the job runs, and no iteration fails. Then, after the first certificates have
// expired, east restarts, so both directions handshake anew: west must present its
// renewed certificate, as a server and as a client, or east refuses it.
TEST(MutualTls, RunningSidecarsTakeARenewedCertificateWithoutFailingAnIteration) {
  using std::chrono::seconds;
  testing::TempDir certs;
  absl::StatusOr<controllers::KeyPair> ca = controllers::MakeCertificateAuthority("job ca");
  ASSERT_TRUE(ca.ok()) << ca.status();
  const std::string ca_file = certs.path() + "/ca.crt";
  std::ofstream(ca_file) << ca->cert_pem;
  JobSpec spec;
  spec.topology = kTwoDcs;
  spec.strategy = "star";
  LocalJob job(spec);
  std::vector<SecretVolume> volumes;
  auto certificate = [&](int i, seconds validity) {
    const std::string& dc = job.policy().data_centers[i];
    absl::StatusOr<controllers::KeyPair> pair =
        controllers::MakeCertificate(*ca, dc, {"127.0.0.1", "localhost", absl::StrCat(dc, ".job.geostorm")}, validity);
    EXPECT_TRUE(pair.ok()) << pair.status();
    return *pair;
  };
  auto start_gateway = [&](int i) {
    job.StartGatewayWithFlags(i, {"--tls-cert", volumes[i].cert(), "--tls-key", volumes[i].key(), "--tls-ca", ca_file,
                                  "--tls-reload-s", "1"});
  };
  auto run = [&](uint64_t first, int iterations) {
    job.StartWorkers(first, iterations);
    for (int code : job.WaitWorkers(seconds(60))) ASSERT_EQ(code, 0) << job.WorkerLogs() << job.GatewayLog(0);
  };

  const auto first_expiry = std::chrono::system_clock::now() + seconds(12);
  for (int i = 0; i < 2; ++i) {
    volumes.emplace_back(absl::StrCat(certs.path(), "/", job.policy().data_centers[i]));
    volumes[i].Write(certificate(i, seconds(12)));
    start_gateway(i);
  }
  run(0, 10);
  for (int i = 0; i < 2; ++i) volumes[i].Write(certificate(i, seconds(3600)));
  run(10, 10);
  std::this_thread::sleep_until(first_expiry + seconds(2));
  run(20, 10);  // on the connections made before

  job.gateway(0).Signal(SIGKILL);
  ASSERT_TRUE(job.gateway(0).Wait(seconds(5)).has_value());
  start_gateway(0);
  run(30, 10);
}

}  // namespace
}  // namespace geostorm
