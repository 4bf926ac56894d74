// Policy serialisation: protobuf (geostorm.v1.Policy, for the wire), and JSON and
// YAML (for people and files; `geostorm plan --yaml` writes what the sidecar reads).
//
// In JSON/YAML DCs are named, trees are {child: parent} maps and aux paths are
// lists of names, so a file reads without an index table:
//   shards:
//     - root: dc5
//       firstChunk: 0
//       numChunks: 31
//       reduce: {dc1: dc2, dc2: dc5, ...}
// Decoding never throws; errors name the field. A decoded policy has a sound shape
// (CheckPolicyShape: indices in range, shards covering the model once, trees);
// whether its links exist is ValidatePolicy's question, against a network.
#ifndef GEOSTORM_CORE_POLICY_POLICY_CODEC_H_
#define GEOSTORM_CORE_POLICY_POLICY_CODEC_H_

#include <string>

#include "absl/status/statusor.h"
#include "core/policy/policy.h"

namespace geostorm::v1 {
class Policy;
}

namespace geostorm::core {

void ToProto(const Policy& policy, v1::Policy* out);
[[nodiscard]] absl::StatusOr<Policy> FromProto(const v1::Policy& proto);

std::string ToJson(const Policy& policy, int indent = 2);
[[nodiscard]] absl::StatusOr<Policy> FromJson(const std::string& text);

std::string ToYaml(const Policy& policy);
[[nodiscard]] absl::StatusOr<Policy> FromYaml(const std::string& text);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_POLICY_POLICY_CODEC_H_
