// Early returns for absl::Status and absl::StatusOr, in place of hand-written
// `if (!s.ok()) return s;` lines:
//
//   RETURN_IF_ERROR(Check(spec));                          // returns the error
//   ASSIGN_OR_RETURN(Topology t, LoadTopologyFile(path));  // declares t, or returns
//   ASSIGN_OR_RETURN(policy_, Plan(view, options));        // assigns, or returns
//
// The enclosing function returns absl::Status or any absl::StatusOr<T>.
#ifndef GEOSTORM_CORE_STATUS_MACROS_H_
#define GEOSTORM_CORE_STATUS_MACROS_H_

#include <utility>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

#define RETURN_IF_ERROR(expr)                                               \
  do {                                                                      \
    if (::absl::Status status_macros_s_ = (expr); !status_macros_s_.ok()) { \
      return status_macros_s_;                                              \
    }                                                                       \
  } while (0)

#define GEOSTORM_STATUS_CONCAT_INNER_(a, b) a##b
#define GEOSTORM_STATUS_CONCAT_(a, b) GEOSTORM_STATUS_CONCAT_INNER_(a, b)

// Variadic so that the expression may hold commas (braced initialisers).
#define ASSIGN_OR_RETURN(lhs, ...) \
  GEOSTORM_ASSIGN_OR_RETURN_IMPL_(GEOSTORM_STATUS_CONCAT_(status_macros_or_, __LINE__), lhs, __VA_ARGS__)

#define GEOSTORM_ASSIGN_OR_RETURN_IMPL_(var, lhs, ...) \
  auto var = (__VA_ARGS__);                            \
  if (!var.ok()) return std::move(var).status();       \
  lhs = *std::move(var)

#endif  // GEOSTORM_CORE_STATUS_MACROS_H_
