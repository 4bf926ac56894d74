// A small HTTP server for probes and metrics: GET /healthz, /readyz (200 or 503 by
// the `ready` callback) and /metrics (Prometheus text from `registry`). cpprestsdk
// stays in health_server.cc. Thread-safe.
#ifndef GEOSTORM_OPERATOR_HEALTH_SERVER_H_
#define GEOSTORM_OPERATOR_HEALTH_SERVER_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

namespace prometheus {
class Registry;
}

namespace geostorm::manager {

class HealthServer {
 public:
  HealthServer(std::shared_ptr<prometheus::Registry> registry, std::function<bool()> ready);
  ~HealthServer();
  // `address` is HOST:PORT; port 0 picks a free one. Returns the port listened on.
  [[nodiscard]] absl::StatusOr<int> Start(const std::string& address);

 private:
  absl::Status Listen(const std::string& address);
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace geostorm::manager

#endif  // GEOSTORM_OPERATOR_HEALTH_SERVER_H_
