// Human-readable renderings of a policy: the text that `geostorm plan` prints, and
// Graphviz DOT. Pure functions.
#ifndef GEOSTORM_CORE_POLICY_POLICY_FORMAT_H_
#define GEOSTORM_CORE_POLICY_POLICY_FORMAT_H_

#include <string>

#include "core/network_view.h"
#include "core/policy/policy.h"

namespace geostorm::core {

// Roots and shares, every tree edge with its rate, the aux routes, the predicted
// time and T_min.
std::string FormatPolicyText(const Policy& policy, const NetworkView& view);

// One cluster per shard; reduce edges solid, broadcast edges dashed, aux routes dotted.
std::string FormatPolicyDot(const Policy& policy, const NetworkView& view);

}  // namespace geostorm::core

#endif  // GEOSTORM_CORE_POLICY_POLICY_FORMAT_H_
