// `geostorm local`'s flags (local_command.h).
#include "absl/strings/numbers.h"
#include "cli/local_command.h"
#include "control/sync_schedule.h"
#include "core/planner/planner.h"

namespace geostorm::cli {

void AddLocalCommand(CLI::App& app, LocalFlags& flags) {
  CLI::App* cmd = app.add_subcommand("local", "run a job on this machine: controller, sidecars and synthetic workers");
  cmd->add_option("--topology", flags.topology, "topology file")->required()->check(CLI::ExistingFile);
  cmd->add_option("--strategy", flags.strategy, "planner")->check(CLI::IsMember(core::StrategyNames()));
  cmd->add_option("--model-mb", flags.model_mb, "gradient size per worker in MB")->check(CLI::PositiveNumber);
  cmd->add_option("--chunk-bytes", flags.chunk_bytes, "chunk size (default: about model/512)")
      ->check(CLI::Range(int64_t{4096}, int64_t{64} << 20));
  cmd->add_option("--iterations", flags.iterations, "iterations to run")->check(CLI::PositiveNumber);
  cmd->add_option("--workers", flags.workers, "workers per DC")->check(CLI::PositiveNumber);
  cmd->add_option("--prometheus", flags.prometheus, "Prometheus base URL for the link matrix");
  cmd->add_flag("--prometheus-server", flags.prometheus_server,
                "run the real Prometheus, scraping every sidecar and the controller, and plan from it");
  cmd->add_option("--interval-ms", flags.interval_ms, "controller reconcile interval")->check(CLI::PositiveNumber);
  cmd->add_option("--min-improvement", flags.min_improvement, "re-plan threshold")->check(CLI::Range(0.0, 1.0));
  cmd->add_option("--timeout-ms", flags.timeout_ms,
                  "an iteration fails after this long (default: 5x the policy's predicted time, at least 30 s)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--out", flags.out_dir, "directory for logs, state and summary.json");
  cmd->add_flag("--wan", flags.wan, "run each DC in a namespace of an emulated WAN (root)");
  cmd->add_option("--scale", flags.scale, "multiply every rate of the topology by this")->check(CLI::PositiveNumber);
  cmd->add_option("--period-s", flags.period_s, "dynamic topologies: redraw period")->check(CLI::PositiveNumber);
  cmd->add_option("--tag", flags.tag, "the emulated WAN's namespaces are gs<tag>-*");
  cmd->add_option("--star-root", flags.star_root, "star: the parameter server's DC");
  cmd->add_flag("--no-multipath{false}", flags.multipath, "netstorm: no aux relay routes");
  cmd->add_flag("--uniform-guess", flags.uniform_guess, "plan from every link at the mean rate; never re-plan");
  cmd->add_flag("--fixed-policy{false}", flags.replan, "keep the first policy: no re-planning");
  cmd->add_option("--worker-command", flags.worker_command,
                  "run this (with /bin/sh) as each worker instead of the synthetic one; it finds its sidecar in "
                  "GEOSTORM_SIDECAR, and GEOSTORM_RANK, _WORLD_SIZE, _DC, _DC_INDEX, _DCS, _ITERATIONS, _OUT");
  cmd->add_option("--mode", flags.mode, "training: how the workers synchronise")
      ->check(CLI::IsMember(control::SyncModeNames()));
  cmd->add_option("--local-steps", flags.local_steps, "esync: the slowest DC's local steps per synchronisation")
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--global-lr", flags.global_lr, "esync, nbsync: step size of the averaged model delta")
      ->check(CLI::PositiveNumber);
  cmd->add_option_function<std::vector<std::string>>(
         "--slowdown",
         [&flags](const std::vector<std::string>& specs) {
           for (const std::string& spec : specs) {
             const size_t eq = spec.find('=');
             double factor = 0;
             if (eq == std::string::npos || !absl::SimpleAtod(spec.substr(eq + 1), &factor)) {
               throw CLI::ValidationError("--slowdown", "want DC=FACTOR, got '" + spec + "'");
             }
             flags.slowdown[spec.substr(0, eq)] = factor;
           }
         },
         "training: DC=FACTOR, that DC's workers compute FACTOR x slower")
      ->delimiter(',');
}

}  // namespace geostorm::cli
