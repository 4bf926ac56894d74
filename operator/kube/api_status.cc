#include "operator/kube/api_status.h"

#include <nlohmann/json.hpp>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace geostorm::kube {

std::string ServerMessage(const std::string& body) {
  nlohmann::json status = nlohmann::json::parse(body, nullptr, false);
  if (status.is_object() && status.contains("message") && status["message"].is_string()) {
    return status["message"].get<std::string>();
  }
  return body.substr(0, 300);
}

absl::Status StatusFor(int code, const std::string& message, const std::string& what) {
  const std::string text = absl::StrCat(what, ": ", message);
  switch (code) {
    case 400:
    case 422:
      return absl::InvalidArgumentError(text);
    case 401:
      return absl::UnauthenticatedError(text);
    case 403:
      return absl::PermissionDeniedError(text);
    case 404:
      return absl::NotFoundError(text);
    case 409:
      return absl::StrContains(message, "already exists") ? absl::AlreadyExistsError(text) : absl::AbortedError(text);
    case 410:
      return absl::OutOfRangeError(text);
    default:
      return absl::UnavailableError(absl::StrCat(text, code == 0 ? "" : absl::StrCat(" (HTTP ", code, ")")));
  }
}

}  // namespace geostorm::kube
