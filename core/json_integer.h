// Whether a JSON value is an integer that T holds: nlohmann's get<T>() casts a
// float (undefined behaviour out of range), or truncates a wider integer, without a
// word. For any nlohmann::basic_json.
//
//   if (!HoldsInteger<int>(j["replicas"])) return Invalid("replicas", "want an integer");
#ifndef GEOSTORM_CORE_JSON_INTEGER_H_
#define GEOSTORM_CORE_JSON_INTEGER_H_

#include <cstdint>
#include <limits>

namespace geostorm {

template <typename T, typename BasicJson>
bool HoldsInteger(const BasicJson& v) {
  const uint64_t max = std::numeric_limits<T>::max();
  if (v.is_number_unsigned()) return v.template get<uint64_t>() <= max;
  if (!v.is_number_integer()) return false;
  const int64_t i = v.template get<int64_t>();
  return i < 0 ? i >= static_cast<int64_t>(std::numeric_limits<T>::min()) : static_cast<uint64_t>(i) <= max;
}

}  // namespace geostorm

#endif  // GEOSTORM_CORE_JSON_INTEGER_H_
