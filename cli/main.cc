// geostorm: the command-line tool. `plan` and `simulate` work offline on a topology
// file; `local` runs a job on this machine; `wan` holds an emulated WAN up.
#include "CLI/CLI.hpp"
#include "cli/local_command.h"
#include "cli/plan_commands.h"
#include "cli/wan_command.h"

int main(int argc, char** argv) {
  CLI::App app{"geostorm: geo-distributed training synchronisation"};
  app.require_subcommand(1);
  geostorm::cli::PlanFlags plan;
  geostorm::cli::SimulateFlags simulate;
  geostorm::cli::AddPlanCommand(app, plan);
  geostorm::cli::AddSimulateCommand(app, simulate);
  geostorm::cli::LocalFlags local;
  geostorm::cli::AddLocalCommand(app, local);
  geostorm::cli::WanFlags wan;
  geostorm::cli::AddWanCommand(app, wan);
  CLI11_PARSE(app, argc, argv);
  if (app.got_subcommand("wan")) return geostorm::cli::RunWan(app, wan);
  if (app.got_subcommand("plan")) return geostorm::cli::RunPlan(plan);
  if (app.got_subcommand("local")) return geostorm::cli::RunLocal(local);
  return geostorm::cli::RunSimulate(simulate);
}
