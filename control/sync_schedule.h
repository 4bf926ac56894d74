// How a job's workers synchronise (GeoTrainingJob spec.sync.mode, `--sync-mode`):
//   bsp     every iteration all-reduces the gradients (the default);
//   esync   each DC takes local steps, as many as the controller schedules so that
//           all DCs reach the next synchronisation together, then the DCs average
//           their model deltas;
//   nbsync  workers keep computing while the last synchronisation is in flight.
// The sidecars tell workers the mode (the Worker API's Describe); the workers'
// library carries it out (client/python/geostorm/torch.py). ESync's schedule is
// the controller's (ControlService), from the step times the gateways measure.
#ifndef GEOSTORM_CONTROL_SYNC_SCHEDULE_H_
#define GEOSTORM_CONTROL_SYNC_SCHEDULE_H_

#include <map>
#include <string>
#include <vector>

namespace geostorm::control {

const std::vector<std::string>& SyncModeNames();  // bsp, esync, nbsync

struct EsyncOptions {
  int base_steps = 1;  // the slowest DC's local steps per synchronisation
  int max_steps = 32;  // no DC takes more than this
};

// ESync's schedule: each DC's local steps per synchronisation, so that every DC
// computes for about as long as the slowest one takes for its base_steps. DCs
// without a measured step time (missing, or 0) take base_steps.
std::map<std::string, int> EsyncLocalSteps(const std::map<std::string, double>& step_seconds,
                                           const EsyncOptions& options);

}  // namespace geostorm::control

#endif  // GEOSTORM_CONTROL_SYNC_SCHEDULE_H_
