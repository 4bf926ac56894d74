// cpprestsdk's listener (kept to this file; see client.cc).
#define _TURN_OFF_PLATFORM_STRING  // NOLINT(bugprone-reserved-identifier): cpprestsdk asks for it
#include "operator/health_server.h"

#include <arpa/inet.h>
#include <cpprest/http_listener.h>
#include <netinet/in.h>
#include <prometheus/registry.h>
#include <prometheus/text_serializer.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "core/status_macros.h"

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

namespace {

// A loopback port the kernel had free a moment ago (cpprestsdk cannot bind port 0
// and say which it got; Start retries when the port was taken in between).
int KernelChosenPort(const std::string& host) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  if (::inet_pton(AF_INET, host.c_str(), &addr.sin_addr) != 1) addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  int port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// As bytes: cpprest sends a string body through a cast from a buffer of char,
// which is undefined behaviour (UBSan's vptr check stopped the operator on its
// first /metrics; client.cc sends its bodies the same way, for the same reason).
void Reply(const web::http::http_request& request, web::http::status_code code, const std::string& body,
           const std::string& content_type = "text/plain; charset=utf-8") {
  web::http::http_response response(code);
  response.set_body(std::vector<unsigned char>(body.begin(), body.end()));
  response.headers().set_content_type(content_type);
  request.reply(response);
}

}  // namespace

absl::Status HealthServer::Listen(const std::string& address) {
  try {
    impl_->listener =
        std::make_unique<web::http::experimental::listener::http_listener>(absl::StrCat("http://", address));
    Impl* impl = impl_.get();
    impl_->listener->support(web::http::methods::GET, [impl](const web::http::http_request& request) {
      const std::string path = request.relative_uri().path();
      if (path == "/healthz") {
        Reply(request, web::http::status_codes::OK, "ok");
      } else if (path == "/readyz") {
        const bool ready = impl->ready();
        Reply(request, ready ? web::http::status_codes::OK : web::http::status_codes::ServiceUnavailable,
              ready ? "ok" : "not ready");
      } else if (path == "/metrics") {
        Reply(request, web::http::status_codes::OK, prometheus::TextSerializer().Serialize(impl->registry->Collect()),
              "text/plain; version=0.0.4");
      } else {
        Reply(request, web::http::status_codes::NotFound, "not found");
      }
    });
    impl_->listener->open().wait();
  } catch (const std::exception& e) {
    impl_->listener.reset();
    return absl::UnavailableError(absl::StrCat("health endpoint ", address, ": ", e.what()));
  }
  return absl::OkStatus();
}

absl::StatusOr<int> HealthServer::Start(const std::string& address) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) {
    return absl::InvalidArgumentError(absl::StrCat("--health-listen '", address, "': expected HOST:PORT"));
  }
  const std::string host = address.substr(0, colon);
  int port = 0;
  if (!absl::SimpleAtoi(address.substr(colon + 1), &port) || port < 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat("--health-listen '", address, "': the port is not a number"));
  }
  if (port != 0) {
    RETURN_IF_ERROR(Listen(address));
    return port;
  }
  absl::Status last;
  for (int attempt = 0; attempt < 20; ++attempt) {
    const int chosen = KernelChosenPort(host);
    last = Listen(absl::StrCat(host, ":", chosen));
    if (last.ok()) return chosen;
  }
  return last;
}

}  // namespace geostorm::manager
