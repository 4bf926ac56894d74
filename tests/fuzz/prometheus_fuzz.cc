// A Prometheus /api/v1/query answer, which the controller trusts for every link
// rate it plans with. One that parses gives finite numbers for named links.
#include <cmath>
#include <cstdint>
#include <string>

#include "control/link_source.h"
#include "tests/fuzz/require.h"

using geostorm::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<geostorm::control::LinkValues> values = geostorm::control::ParsePrometheusQuery(body);
  if (!values.ok()) return 0;
  for (const auto& [link, value] : *values) Require(std::isfinite(value), "every value is finite");
  return 0;
}
