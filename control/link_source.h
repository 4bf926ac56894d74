// LinkSource: where the controller reads the link matrix from.
//   - PrometheusLinkSource: the Prometheus HTTP API, which scrapes the sidecars'
//     geostorm_link_throughput_bytes_per_second.
//   - ReportLinkSource: the sidecars' own reports on the control stream, for runs
//     without Prometheus.
// Read() fails with a status that says what went wrong and where; the caller keeps
// its last good matrix.
#ifndef GEOSTORM_CONTROL_LINK_SOURCE_H_
#define GEOSTORM_CONTROL_LINK_SOURCE_H_

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "control/replanner.h"

namespace geostorm::control {

class ControlService;

class LinkSource {
 public:
  virtual ~LinkSource() = default;
  virtual std::string name() const = 0;
  [[nodiscard]] virtual absl::StatusOr<std::vector<LinkSample>> Read() = 0;
};

// Queries `base_url` (http://host:port) for the job's link series. Samples whose
// scrape is old carry that age, so that the matrix marks them stale.
std::unique_ptr<LinkSource> MakePrometheusLinkSource(std::string base_url, std::string job,
                                                     std::chrono::milliseconds timeout);

// (src, dst) -> value of an instant query's vector result, from the body of a
// Prometheus /api/v1/query answer. kDataLoss, quoting the part that is wrong, for
// anything else: not JSON, not a success, a series without src or dst, a value
// that is not a finite number; kResourceExhausted for an answer over the limit
// (a 256-DC job's matrix is about 10 MB).
inline constexpr size_t kMaxPrometheusAnswerBytes = 64 << 20;
using LinkValues = std::map<std::pair<std::string, std::string>, double>;
[[nodiscard]] absl::StatusOr<LinkValues> ParsePrometheusQuery(const std::string& body);

// The estimates the gateways last reported to `service`.
std::unique_ptr<LinkSource> MakeReportLinkSource(const ControlService* service);

}  // namespace geostorm::control

#endif  // GEOSTORM_CONTROL_LINK_SOURCE_H_
