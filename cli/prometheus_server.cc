#include "cli/prometheus_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/process.hpp>
#include <boost/process/extend.hpp>
#include <chrono>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include "absl/strings/str_cat.h"

namespace geostorm::cli {
namespace {

namespace bp = boost::process;

// A loopback port the kernel had free a moment ago: Prometheus cannot bind port 0
// and say which it got, so Start tries a few of these.
int KernelChosenPort() {
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

}  // namespace

struct PrometheusServer::Process {
  bp::child child;
};

absl::StatusOr<std::string> HttpGet(const std::string& host, int port, const std::string& path) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, host.c_str(), &addr.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    ::close(fd);
    return absl::UnavailableError(absl::StrCat("http://", host, ":", port, path, ": cannot connect"));
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\nHost: ", host, "\r\n\r\n");
  std::string response;
  if (::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size())) {
    char buf[4096];
    for (ssize_t n; (n = ::read(fd, buf, sizeof(buf))) > 0;) response.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  const size_t body = response.find("\r\n\r\n");
  if (response.rfind("HTTP/1.", 0) != 0 || body == std::string::npos || response.substr(9, 3) != "200") {
    return absl::UnavailableError(
        absl::StrCat("http://", host, ":", port, path, ": ", response.substr(0, response.find('\r'))));
  }
  return response.substr(body + 4);
}

absl::StatusOr<std::unique_ptr<PrometheusServer>> PrometheusServer::Start(const std::string& dir,
                                                                          const std::vector<std::string>& targets,
                                                                          const std::string& binary) {
  if (::access(binary.c_str(), X_OK) != 0) {
    return absl::NotFoundError(absl::StrCat(binary, " is missing (Debian package prometheus)"));
  }
  std::error_code ec;
  std::filesystem::create_directories(dir + "/tsdb", ec);
  if (ec) return absl::UnavailableError(absl::StrCat(dir, ": ", ec.message()));
  const std::string config = dir + "/prometheus.yml";
  {
    std::ofstream out(config);
    out << "# Written by geostorm local: every sidecar and the controller, every second.\n"
        << "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        << "scrape_configs:\n"
        << "  - job_name: geostorm\n"
        << "    honor_labels: true  # keep the sidecars' own job label (the training job)\n"
        << "    static_configs:\n"
        << "      - targets: [";
    for (size_t i = 0; i < targets.size(); ++i) out << (i ? ", " : "") << "'" << targets[i] << "'";
    out << "]\n";
    if (!out) return absl::UnavailableError(absl::StrCat("cannot write ", config));
  }
  std::unique_ptr<PrometheusServer> server(new PrometheusServer());
  std::string last = "no attempt";
  for (int attempt = 0; attempt < 5; ++attempt) {
    const int port = KernelChosenPort();
    auto die_with_parent = bp::extend::on_exec_setup([](auto&) { ::prctl(PR_SET_PDEATHSIG, SIGKILL); });
    std::error_code spawn_error;
    bp::child child(binary,
                    bp::args({"--config.file=" + config, "--storage.tsdb.path=" + dir + "/tsdb",
                              absl::StrCat("--web.listen-address=127.0.0.1:", port), "--log.level=warn"}),
                    (bp::std_out & bp::std_err) > (dir + "/prometheus.log"), die_with_parent, spawn_error);
    if (spawn_error) return absl::UnavailableError(absl::StrCat("cannot run ", binary, ": ", spawn_error.message()));
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (child.running() && std::chrono::steady_clock::now() < deadline) {
      if (HttpGet("127.0.0.1", port, "/-/ready").ok()) {
        server->url_ = absl::StrCat("http://127.0.0.1:", port);
        server->process_ = std::make_unique<Process>(Process{std::move(child)});
        return server;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (child.running()) {
      child.terminate();
      return absl::DeadlineExceededError(absl::StrCat(binary, " was not ready in 30 s; see ", dir, "/prometheus.log"));
    }
    child.wait();
    last = absl::StrCat("it exited with code ", child.exit_code(), " (port ", port, " taken?); see ", dir,
                        "/prometheus.log");
  }
  return absl::UnavailableError(absl::StrCat(binary, " did not start: ", last));
}

PrometheusServer::~PrometheusServer() {
  if (process_ && process_->child.running()) {
    ::kill(process_->child.id(), SIGTERM);  // lets it close its TSDB
    process_->child.wait();
  }
}

}  // namespace geostorm::cli
