#!/usr/bin/python3
"""The three sync modes train the digits example (examples/pytorch/train_digits.py)
as a user runs it, `geostorm local --worker-command`, on 4 DCs x 2 workers with DC
a's compute 3x slower:
  - each reaches 90% test accuracy, ESync and NBSync within 1 point of BSP;
  - every worker ends on the same model (the same accuracy);
  - ESync: the controller's schedule gives the fast DCs' workers about 3x the slow
    DC's local steps (they would all take one per round without it);
  - NBSync: the fast DCs keep computing while rounds are in flight (more local
    steps than rounds).

Usage: sync_modes_test.py BUILD_DIR SOURCE_DIR
"""
import glob
import json
import os
import subprocess
import sys
import tempfile

ROUNDS = 150


def run(build, src, work, mode):
    out = os.path.join(work, mode)
    cmd = [os.path.join(build, "bin", "geostorm"), "local", "--topology",
           os.path.join(src, "examples/topologies/mesh-4dc-uniform.yaml"), "--workers", "2", "--model-mb", "0.00964",
           "--iterations", str(ROUNDS + 1), "--mode", mode, "--slowdown", "a=3", "--worker-command",
           f"/usr/bin/python3 {src}/examples/pytorch/train_digits.py", "--out", out]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=400)
    results = [json.load(open(f)) for f in sorted(glob.glob(out + "/result-rank*.json"))]
    if done.returncode != 0 or len(results) != 8:
        logs = "".join(open(f).read()[-800:] for f in glob.glob(out + "/worker-*.log"))
        raise AssertionError(f"{mode}: geostorm local exited {done.returncode}, {len(results)} results\n"
                             f"{done.stderr[-1500:]}\n{logs}")
    return results


def main():
    build, src = sys.argv[1], sys.argv[2]
    work = tempfile.mkdtemp(prefix="geostorm-sync-")
    failures, accuracy = [], {}
    for mode in ["bsp", "esync", "nbsync"]:
        results = run(build, src, work, mode)
        accuracies = {round(r["accuracy"], 6) for r in results}
        accuracy[mode] = min(accuracies)
        steps = {dc: [r["steps"] for r in results if r["dc"] == dc] for dc in range(4)}
        slow, fast = sum(steps[0]) / 2, sum(sum(steps[dc]) for dc in (1, 2, 3)) / 6
        print(f"{mode}: test accuracy {sorted(accuracies)}, {ROUNDS} rounds; local steps per worker: slow DC a "
              f"{slow:.0f}, fast DCs {fast:.0f}")
        if len(accuracies) != 1:
            failures.append(f"{mode}: the workers ended on different models: {sorted(accuracies)}")
        if accuracy[mode] < 0.9:
            failures.append(f"{mode}: test accuracy {accuracy[mode]:.3f} < 0.9")
        if mode == "esync" and not fast >= 2 * slow:
            failures.append(f"esync: the fast DCs took {fast:.0f} local steps against the slow one's {slow:.0f}: "
                            "the controller's schedule did not reach them")
        if mode == "nbsync" and not fast > 1.2 * ROUNDS:
            failures.append(f"nbsync: the fast DCs took {fast:.0f} local steps in {ROUNDS} rounds: no overlap")
    for mode in ["esync", "nbsync"]:
        if accuracy[mode] < accuracy["bsp"] - 0.01:
            failures.append(f"{mode}: accuracy {accuracy[mode]:.3f}, more than 1 point below BSP's "
                            f"{accuracy['bsp']:.3f}")
    if failures:
        print("FAIL:\n" + "\n".join(failures) + f"\n(runs in {work})")
        return 1
    subprocess.run(["rm", "-rf", work])
    print("sync modes test passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
