// What an API server's answer means as an absl::Status: the code mapping that
// client.h documents, with the server's own message. Pure; thread-safe.
//
//   return StatusFor(404, ServerMessage(body), "get pods/worker-0");
#ifndef GEOSTORM_OPERATOR_KUBE_API_STATUS_H_
#define GEOSTORM_OPERATOR_KUBE_API_STATUS_H_

#include <string>

#include "absl/status/status.h"

namespace geostorm::kube {

// The message of a metav1.Status body, else the start of the body's text on one
// line, markup dropped.
std::string ServerMessage(const std::string& body);

// `code` 0 means no HTTP answer at all (connection failed).
absl::Status StatusFor(int code, const std::string& message, const std::string& what);

}  // namespace geostorm::kube

#endif  // GEOSTORM_OPERATOR_KUBE_API_STATUS_H_
