// The programs of a geostorm job on one machine, as command lines: the gateway
// and member sidecars and the synthetic workers. `geostorm local` and the test
// support (tests/support/local_job.h) both launch jobs from these, so a flag is
// spelled in one place. Also reads back what the gateways did, from their event
// files (control/event_log.h): logs are for people.
//
//   GatewayFlags g;  g.dc = "dc1";  g.listen = "127.0.0.1:7001";  ...
//   std::vector<std::string> argv = GatewayCommand(bin_dir, g);
//   std::map<uint64_t, IterationRecord> done = ReadIterations({out + "/dc1.events"});
//
// Thread-safe (pure functions, and reads of files).
#ifndef GEOSTORM_CLI_JOB_LAUNCHER_H_
#define GEOSTORM_CLI_JOB_LAUNCHER_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace geostorm::cli {

struct GatewayFlags {
  std::string job = "job";
  std::string dc;
  std::string policy_file;                   // one of these two
  std::string controller;                    // host:port or unix:path
  std::string listen;                        // DataPlane address
  std::map<std::string, std::string> peers;  // DC -> address
  std::string worker_socket;                 // unix:path
  int workers = 1;                           // in this DC
  int timeout_ms = 0;                        // 0: the sidecar's default (sidecar.h, IterationTimeout)
  std::string metrics = "127.0.0.1:0";
  std::string events;  // event file; empty: none
  std::string sync_mode = "bsp";
  bool insecure = true;
  std::vector<std::string> extra;  // appended as given
};

// A member takes the job's shape (sizes, workers, sync mode, timeout) from its gateway.
struct MemberFlags {
  std::string job = "job";
  std::string dc;
  std::string gateway;  // the gateway's DataPlane address
  std::string member_id;
  std::string worker_socket;
  std::string events;
};

struct WorkerFlags {
  std::string sidecar;  // unix:path
  int dc_index = 0, worker_index = 0, dcs = 1, workers = 1;
  int iterations = 1;
  uint64_t first_iteration = 0;
  bool keep_going = false;
  std::vector<std::string> extra;
};

// A user's training worker (`geostorm local --worker-command`).
struct UserWorkerFlags {
  std::string sidecar;  // unix:path
  std::string dc;
  int dc_index = 0, dcs = 1, worker_index = 0, workers = 1;  // workers per DC
  int iterations = 1;
  std::string out;       // the run's output directory
  std::string bin_dir;   // build/bin: the geostorm package is in build/python
  double slowdown = 1;   // this DC's compute is this many times slower
  double global_lr = 1;  // esync and nbsync: the step size of the averaged delta
};

// What the user's worker is told, as environment variables: the same ones a pod
// of a GeoTrainingJob gets (GEOSTORM_SIDECAR, _RANK, _WORLD_SIZE, _DC, ...).
std::map<std::string, std::string> UserWorkerEnvironment(const UserWorkerFlags& f);

// argv, with the program in `bin_dir` first.
std::vector<std::string> GatewayCommand(const std::string& bin_dir, const GatewayFlags& f);
std::vector<std::string> MemberCommand(const std::string& bin_dir, const MemberFlags& f);
std::vector<std::string> WorkerCommand(const std::string& bin_dir, const WorkerFlags& f);

// One iteration as the gateways recorded it.
struct IterationRecord {
  double seconds = 0;  // the slowest gateway's
  uint64_t policy_version = 0;
  int gateways = 0;    // how many finished it
  double done_at = 0;  // when the last of them did (seconds since the epoch)
};

// Iteration -> record, over the event files given (one per gateway). Files that
// do not exist yet count as empty; a line that does not parse is skipped (a
// writer may be in the middle of it).
std::map<uint64_t, IterationRecord> ReadIterations(const std::vector<std::string>& event_files);

// Iteration -> the first error a gateway recorded for it, over the event files given.
std::map<uint64_t, std::string> ReadFailures(const std::vector<std::string>& event_files);

// Policy version -> the iteration it was committed from, per file.
std::map<uint64_t, uint64_t> ReadCommits(const std::string& event_file);

// The ports a process bound, by name ("data", "metrics", "control"), from the
// last "started" event of its file: launchers ask for port 0 and read them here.
// Empty when it has not started (yet).
std::map<std::string, int> ReadPorts(const std::string& event_file);

}  // namespace geostorm::cli

#endif  // GEOSTORM_CLI_JOB_LAUNCHER_H_
