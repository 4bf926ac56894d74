#include "cli/job_launcher.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace geostorm::cli {
namespace {

void Add(std::vector<std::string>& argv, const std::string& flag, const std::string& value) {
  if (!value.empty()) argv.insert(argv.end(), {flag, value});
}

// Every event of a file that parses, in order.
void ForEachEvent(const std::string& path, const std::function<void(const nlohmann::json&)>& on_event) {
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) {
    nlohmann::json event = nlohmann::json::parse(line, nullptr, /*allow_exceptions=*/false);
    if (event.is_object()) on_event(event);
  }
}

// The build's Python package (build/python) first, then whatever was set.
std::string PythonPath(const std::string& bin_dir) {
  const char* set = std::getenv("PYTHONPATH");
  const std::string ours = (std::filesystem::path(bin_dir).parent_path() / "python").string();
  return set != nullptr && *set != '\0' ? ours + ":" + set : ours;
}

}  // namespace

std::vector<std::string> GatewayCommand(const std::string& bin_dir, const GatewayFlags& f) {
  std::vector<std::string> argv = {bin_dir + "/geostorm-sidecar", "--job", f.job, "--dc", f.dc};
  Add(argv, "--policy", f.policy_file);
  Add(argv, "--controller", f.controller);
  Add(argv, "--listen", f.listen);
  for (const auto& [dc, address] : f.peers) {
    if (dc != f.dc) argv.insert(argv.end(), {"--peer", absl::StrCat(dc, "=", address)});
  }
  Add(argv, "--worker-listen", f.worker_socket);
  argv.insert(argv.end(), {"--workers", std::to_string(f.workers)});
  if (f.timeout_ms > 0) argv.insert(argv.end(), {"--timeout-ms", std::to_string(f.timeout_ms)});
  Add(argv, "--metrics", f.metrics);
  Add(argv, "--events", f.events);
  Add(argv, "--sync-mode", f.sync_mode);
  if (f.insecure) argv.push_back("--insecure");
  argv.insert(argv.end(), f.extra.begin(), f.extra.end());
  return argv;
}

std::vector<std::string> MemberCommand(const std::string& bin_dir, const MemberFlags& f) {
  std::vector<std::string> argv = {bin_dir + "/geostorm-sidecar",
                                   "--job",
                                   f.job,
                                   "--dc",
                                   f.dc,
                                   "--gateway",
                                   f.gateway,
                                   "--member-id",
                                   f.member_id,
                                   "--worker-listen",
                                   f.worker_socket};
  Add(argv, "--events", f.events);
  argv.push_back("--insecure");
  return argv;
}

std::vector<std::string> WorkerCommand(const std::string& bin_dir, const WorkerFlags& f) {
  std::vector<std::string> argv = {bin_dir + "/geostorm-synthetic-worker",
                                   "--sidecar",
                                   f.sidecar,
                                   "--dc-index",
                                   std::to_string(f.dc_index),
                                   "--worker-index",
                                   std::to_string(f.worker_index),
                                   "--dcs",
                                   std::to_string(f.dcs),
                                   "--workers",
                                   std::to_string(f.workers),
                                   "--iterations",
                                   std::to_string(f.iterations),
                                   "--first-iteration",
                                   std::to_string(f.first_iteration)};
  if (f.keep_going) argv.push_back("--keep-going");
  argv.insert(argv.end(), f.extra.begin(), f.extra.end());
  return argv;
}

std::map<std::string, std::string> UserWorkerEnvironment(const UserWorkerFlags& f) {
  return {{"GEOSTORM_SIDECAR", f.sidecar},
          {"GEOSTORM_DC", f.dc},
          {"GEOSTORM_DC_INDEX", std::to_string(f.dc_index)},
          {"GEOSTORM_DCS", std::to_string(f.dcs)},
          {"GEOSTORM_WORKER_INDEX", std::to_string(f.worker_index)},
          {"GEOSTORM_RANK", std::to_string(f.dc_index * f.workers + f.worker_index)},
          {"GEOSTORM_WORLD_SIZE", std::to_string(f.dcs * f.workers)},
          {"GEOSTORM_ITERATIONS", std::to_string(f.iterations)},
          {"GEOSTORM_SLOWDOWN", absl::StrCat(f.slowdown)},
          {"GEOSTORM_GLOBAL_LR", absl::StrCat(f.global_lr)},
          {"GEOSTORM_OUT", f.out},
          {"PYTHONPATH", PythonPath(f.bin_dir)}};
}

std::map<uint64_t, IterationRecord> ReadIterations(const std::vector<std::string>& event_files) {
  std::map<uint64_t, IterationRecord> out;
  for (const std::string& path : event_files) {
    ForEachEvent(path, [&](const nlohmann::json& e) {
      if (e.value("event", "") != "iteration") return;
      IterationRecord& r = out[e.value("iteration", uint64_t{0})];
      r.seconds = std::max(r.seconds, e.value("seconds", 0.0));
      r.policy_version = e.value("policy_version", uint64_t{0});
      r.done_at = std::max(r.done_at, e.value("time", 0.0));
      ++r.gateways;
    });
  }
  return out;
}

std::map<uint64_t, std::string> ReadFailures(const std::vector<std::string>& event_files) {
  std::map<uint64_t, std::string> out;
  for (const std::string& path : event_files) {
    ForEachEvent(path, [&](const nlohmann::json& e) {
      if (e.value("event", "") == "iteration_failed")
        out.emplace(e.value("iteration", uint64_t{0}), e.value("error", ""));
    });
  }
  return out;
}

std::map<uint64_t, uint64_t> ReadCommits(const std::string& event_file) {
  std::map<uint64_t, uint64_t> out;
  ForEachEvent(event_file, [&](const nlohmann::json& e) {
    if (e.value("event", "") == "policy_committed")
      out[e.value("version", uint64_t{0})] = e.value("from_iteration", uint64_t{0});
  });
  return out;
}

std::map<std::string, int> ReadPorts(const std::string& event_file) {
  std::map<std::string, int> ports;
  ForEachEvent(event_file, [&](const nlohmann::json& e) {
    if (e.value("event", "") == "started" && e.contains("ports") && e["ports"].is_object()) {
      ports = e["ports"].get<std::map<std::string, int>>();
    }
  });
  return ports;
}

}  // namespace geostorm::cli
