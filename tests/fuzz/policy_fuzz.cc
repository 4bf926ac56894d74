// A policy as it comes in: protobuf from the controller, JSON or YAML from a file
// or the operator's ConfigMap. A policy that decodes has a sound shape, and
// survives every encoding unchanged.
#include <cstdint>
#include <string>

#include "core/policy/policy_codec.h"
#include "geostorm/v1/policy.pb.h"
#include "tests/fuzz/require.h"

using geostorm::core::Policy;
using geostorm::fuzz::Require;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const std::string text(reinterpret_cast<const char*>(data) + 1, size - 1);
  absl::StatusOr<Policy> policy = absl::InvalidArgumentError("not decoded");
  switch (data[0] % 3) {
    case 0: {
      geostorm::v1::Policy proto;
      if (!proto.ParseFromString(text)) return 0;
      policy = geostorm::core::FromProto(proto);
      break;
    }
    case 1:
      policy = geostorm::core::FromJson(text);
      break;
    default:
      policy = geostorm::core::FromYaml(text);
  }
  if (!policy.ok()) {
    Require(!policy.status().message().empty(), "a refusal says why");
    return 0;
  }
  Require(geostorm::core::CheckPolicyShape(*policy).ok(), "a decoded policy has a sound shape");

  const std::string json = geostorm::core::ToJson(*policy);
  absl::StatusOr<Policy> from_json = geostorm::core::FromJson(json);
  Require(from_json.ok() && geostorm::core::ToJson(*from_json) == json, "JSON gives back the policy: " + json);
  absl::StatusOr<Policy> from_yaml = geostorm::core::FromYaml(geostorm::core::ToYaml(*policy));
  Require(from_yaml.ok() && geostorm::core::ToJson(*from_yaml) == json, "YAML gives back the policy: " + json);
  geostorm::v1::Policy proto;
  geostorm::core::ToProto(*policy, &proto);
  absl::StatusOr<Policy> from_proto = geostorm::core::FromProto(proto);
  Require(from_proto.ok() && geostorm::core::ToJson(*from_proto) == json, "protobuf gives back the policy: " + json);
  return 0;
}
