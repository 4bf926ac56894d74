// PrometheusServer: the real Prometheus server (Debian's `prometheus`) for one local
// run, scraping the job's sidecars and its controller every second. Its
// configuration and TSDB stay in the run's output directory; it stops with this
// object.
//
//   absl::StatusOr<std::unique_ptr<PrometheusServer>> p =
//       PrometheusServer::Start(out + "/prometheus", {"127.0.0.1:41235", "127.0.0.1:41236"});
//   controller source: MakePrometheusLinkSource((*p)->url(), ...)
//
// Errors say why it could not start (no binary, no free port, it exited, not ready
// in time), so that the caller can say so and fall back. Not thread-safe.
#ifndef GEOSTORM_CLI_PROMETHEUS_SERVER_H_
#define GEOSTORM_CLI_PROMETHEUS_SERVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace geostorm::cli {

class PrometheusServer {
 public:
  // `targets`: host:port of every /metrics to scrape. `binary` is the server to run.
  [[nodiscard]] static absl::StatusOr<std::unique_ptr<PrometheusServer>> Start(
      const std::string& dir, const std::vector<std::string>& targets,
      const std::string& binary = "/usr/bin/prometheus");
  ~PrometheusServer();

  const std::string& url() const { return url_; }  // http://127.0.0.1:PORT

 private:
  struct Process;
  PrometheusServer() = default;

  std::string url_;
  std::unique_ptr<Process> process_;
};

// The body of http://host:port/path with a status of 200, or an error.
[[nodiscard]] absl::StatusOr<std::string> HttpGet(const std::string& host, int port, const std::string& path);

}  // namespace geostorm::cli

#endif  // GEOSTORM_CLI_PROMETHEUS_SERVER_H_
