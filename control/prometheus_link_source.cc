// The Prometheus HTTP API through cpprestsdk (kept to this file: its headers are
// heavy, and must come after _TURN_OFF_PLATFORM_STRING).
#define _TURN_OFF_PLATFORM_STRING  // NOLINT(bugprone-reserved-identifier): cpprestsdk asks for it
#include <cpprest/http_client.h>
#include <cpprest/uri_builder.h>

#include "absl/strings/str_cat.h"
#include "control/link_source.h"

namespace geostorm::control {
namespace {

class PrometheusLinkSource final : public LinkSource {
 public:
  PrometheusLinkSource(std::string base_url, std::string job, std::chrono::milliseconds timeout)
      : base_url_(std::move(base_url)), job_(std::move(job)), timeout_(timeout) {}

  std::string name() const override { return absl::StrCat("prometheus at ", base_url_); }

  absl::StatusOr<std::vector<LinkSample>> Read() override {
    const std::string series = absl::StrCat("geostorm_link_throughput_bytes_per_second{job=\"", job_, "\"}");
    absl::StatusOr<LinkValues> rates = Query(series);
    if (!rates.ok()) return rates.status();
    if (rates->empty()) {
      // Sidecars export every link from the start, so no series at all means no
      // sidecar is scraped, or the scrape renamed their `job` label.
      return absl::NotFoundError(
          absl::StrCat(name(), ": no series for '", series, "' (are the sidecars scraped, with honor_labels: true?)"));
    }
    absl::StatusOr<LinkValues> ages = Query(absl::StrCat("time() - timestamp(", series, ")"));
    if (!ages.ok()) return ages.status();
    std::vector<LinkSample> samples;
    for (const auto& [link, rate] : *rates) {
      if (rate <= 0) continue;  // the sidecar has not measured it yet
      auto age = ages->find(link);
      samples.push_back({link.first, link.second, rate, age == ages->end() ? 0.0 : age->second});
    }
    return samples;
  }

 private:
  // An instant query: (src, dst) -> value.
  absl::StatusOr<LinkValues> Query(const std::string& promql) {
    std::string body;
    try {
      web::http::client::http_client_config config;
      config.set_timeout(timeout_);
      web::http::client::http_client client(base_url_, config);
      web::uri_builder path("/api/v1/query");
      path.append_query("query", promql);
      web::http::http_response response = client.request(web::http::methods::GET, path.to_string()).get();
      body = response.extract_string(true).get();
      if (response.status_code() != web::http::status_codes::OK) {
        return absl::UnavailableError(
            absl::StrCat(name(), ": HTTP ", response.status_code(), " for '", promql, "': ", body.substr(0, 200)));
      }
    } catch (const std::exception& e) {
      return absl::UnavailableError(absl::StrCat(name(), ": cannot query '", promql, "': ", e.what()));
    }
    absl::StatusOr<LinkValues> values = ParsePrometheusQuery(body);
    if (!values.ok())
      return absl::Status(values.status().code(), absl::StrCat(name(), ": ", values.status().message()));
    return values;
  }

  const std::string base_url_, job_;
  const std::chrono::milliseconds timeout_;
};

}  // namespace

std::unique_ptr<LinkSource> MakePrometheusLinkSource(std::string base_url, std::string job,
                                                     std::chrono::milliseconds timeout) {
  return std::make_unique<PrometheusLinkSource>(std::move(base_url), std::move(job), timeout);
}

}  // namespace geostorm::control
