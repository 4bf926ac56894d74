// cpprestsdk's listener (kept to this file; see client.cc).
#define _TURN_OFF_PLATFORM_STRING  // NOLINT(bugprone-reserved-identifier): cpprestsdk asks for it
#include "operator/health_server.h"

#include <cpprest/http_listener.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>

#include "absl/strings/str_cat.h"

namespace geostorm::manager {

struct HealthServer::Impl {
  std::shared_ptr<prometheus::Registry> registry;
  std::function<bool()> ready;
  std::unique_ptr<web::http::experimental::listener::http_listener> listener;
};

HealthServer::HealthServer(std::shared_ptr<prometheus::Registry> registry, std::function<bool()> ready)
    : impl_(std::make_unique<Impl>()) {
  impl_->registry = std::move(registry);
  impl_->ready = std::move(ready);
}

HealthServer::~HealthServer() {
  if (impl_->listener) {
    try {
      impl_->listener->close().wait();
    } catch (const std::exception&) {
    }
  }
}

absl::Status HealthServer::Start(const std::string& address) {
  try {
    impl_->listener =
        std::make_unique<web::http::experimental::listener::http_listener>(absl::StrCat("http://", address));
    Impl* impl = impl_.get();
    impl_->listener->support(web::http::methods::GET, [impl](const web::http::http_request& request) {
      const std::string path = request.relative_uri().path();
      if (path == "/healthz") {
        request.reply(web::http::status_codes::OK, "ok");
      } else if (path == "/readyz") {
        const bool ready = impl->ready();
        request.reply(ready ? web::http::status_codes::OK : web::http::status_codes::ServiceUnavailable,
                      ready ? "ok" : "not ready");
      } else if (path == "/metrics") {
        request.reply(web::http::status_codes::OK, prometheus::TextSerializer().Serialize(impl->registry->Collect()),
                      "text/plain; version=0.0.4");
      } else {
        request.reply(web::http::status_codes::NotFound, "not found");
      }
    });
    impl_->listener->open().wait();
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat("health endpoint ", address, ": ", e.what()));
  }
  return absl::OkStatus();
}

}  // namespace geostorm::manager
