#include "control/sync_schedule.h"

#include <algorithm>
#include <cmath>

namespace geostorm::control {

const std::vector<std::string>& SyncModeNames() {
  static const std::vector<std::string> names = {"bsp", "esync", "nbsync"};
  return names;
}

std::map<std::string, int> EsyncLocalSteps(const std::map<std::string, double>& step_seconds,
                                           const EsyncOptions& options) {
  double slowest = 0;
  for (const auto& [dc, s] : step_seconds) slowest = std::max(slowest, s);
  std::map<std::string, int> steps;
  for (const auto& [dc, s] : step_seconds) {
    const double fit = s > 0 ? std::round(options.base_steps * slowest / s) : options.base_steps;
    steps[dc] = static_cast<int>(std::clamp<double>(fit, options.base_steps, options.max_steps));
  }
  return steps;
}

}  // namespace geostorm::control
