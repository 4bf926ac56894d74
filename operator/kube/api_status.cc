#include "operator/kube/api_status.h"

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace geostorm::kube {

namespace {

constexpr size_t kMaxTextBytes = 200;

}  // namespace

std::string ServerMessage(const std::string& body) {
  nlohmann::json status = nlohmann::json::parse(body, nullptr, false);
  if (status.is_object() && status.contains("message") && status["message"].is_string()) {
    return status["message"].get<std::string>();
  }
  // Not an API server's Status (a proxy's error page, say): its text on one line,
  // markup dropped, cut short on a character boundary.
  std::string text;
  bool in_tag = false;
  for (const char c : body) {
    if (c == '<' || c == '>') {
      in_tag = c == '<';
      if (!in_tag && !text.empty() && text.back() != ' ') text += ' ';
    } else if (!in_tag) {
      const bool space = absl::ascii_isspace(static_cast<unsigned char>(c));
      if (!space) {
        text += c;
      } else if (!text.empty() && text.back() != ' ') {
        text += ' ';
      }
    }
  }
  if (text.size() > kMaxTextBytes) {
    size_t cut = kMaxTextBytes;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
    text = absl::StrCat(text.substr(0, cut), "...");
  }
  return std::string(absl::StripAsciiWhitespace(text));
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
