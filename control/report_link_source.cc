#include "control/control_service.h"
#include "control/link_source.h"

namespace geostorm::control {
namespace {

class ReportLinkSource final : public LinkSource {
 public:
  explicit ReportLinkSource(const ControlService* service) : service_(service) {}
  std::string name() const override { return "sidecar reports"; }

  absl::StatusOr<std::vector<LinkSample>> Read() override {
    std::vector<LinkSample> samples;
    const auto now = Clock::now();
    for (const auto& [src, report] : service_->Reports()) {
      for (const auto& [dst, link] : report.links) {
        if (link.bytes_per_second <= 0) continue;  // never measured
        const double since = std::chrono::duration<double>(now - link.received).count();
        samples.push_back({src, dst, link.bytes_per_second, link.age_seconds + since});
      }
    }
    return samples;
  }

 private:
  const ControlService* service_;
};

}  // namespace

std::unique_ptr<LinkSource> MakeReportLinkSource(const ControlService* service) {
  return std::make_unique<ReportLinkSource>(service);
}

}  // namespace geostorm::control
