"""Batch throughput: N distinct Filters workbooks dropped at once into the inbox of a running
deployment (webserver + daemon on loopback); the inbox sensor shares them out among its batch
runs (one job, one `dataset_charts` run per dataset, all eight charts each). Prints
datasets/minute, where the time went, the cost per dataset beside the old-style
baseline's per-dataset time measured in the same bench run (e2e_bench.py: the eight charts
with matplotlib, re-reading the workbook per chart, in one fresh process), and the peak memory
of the deployment's processes. Each dataset keeps its own run, status and materializations;
a broken file among them is refused alone.

Usage: python bench/batch_bench.py [--short] [--datasets N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from e2e_bench import old_style_baseline  # noqa: E402

from intelli_assets.client import IntelliClient  # noqa: E402
from intelli_assets.sample_workbook import write_sample_workbook  # noqa: E402
from intelli_assets_tests.servers import dagster_dev, prepare_home  # noqa: E402

ENDED = {"SUCCESS", "FAILURE", "CANCELED"}
TIMED_RUNS = """
query Timed($filter: RunsFilter!) {
  runsOrError(filter: $filter) { ... on Runs { results { runId jobName status creationTime startTime endTime
                                                         tags { key value } } } }
}
"""


def timing_lines(client: IntelliClient, since: float) -> list[str]:
    """Where the time went: when the first run started after the drop, how long the batch runs
    took, and each dataset's own run (median)."""
    for _ in range(100):  # the batch runs end just after their last dataset's run
        runs = client.query(TIMED_RUNS, {"filter": {"createdAfter": since - 1}})["runsOrError"]["results"]
        if all(r["status"] in ENDED for r in runs):
            break
        time.sleep(0.2)
    batches = [r for r in runs if r["jobName"] == "inbox_batch" and r["startTime"] and r["endTime"]]
    datasets = [r for r in runs if r["jobName"] == "dataset_charts" and r["startTime"] and r["endTime"]]
    if not runs or not datasets:
        return []
    created = min(r["creationTime"] for r in runs)
    first = min(r["startTime"] for r in runs if r["startTime"])
    lines = [f"  drop -> first run created: {created - since:.1f} s (the sensor takes a file untouched for 2 s at "
             f"the look that sees it, else at the next, ~5 s later), started: {first - since:.1f} s"]
    for batch in sorted(batches, key=lambda r: r["startTime"]):
        size = next((t["value"] for t in batch["tags"] if t["key"] == "intelli/batch_size"), "?")
        lines.append(f"  batch run of {size} datasets: {batch['endTime'] - batch['startTime']:.1f} s, {batch['status']}")
    if batches:
        at_work = max(sum(b["startTime"] <= t < b["endTime"] for b in batches) for t in (b["startTime"] for b in batches))
        lines.append(f"  batch runs at work at once: at most {at_work}")
    lines.append(f"  one dataset's run: median {statistics.median(r['endTime'] - r['startTime'] for r in datasets):.2f} s "
                 f"({len(datasets)} runs, {len(batches)} batch runs)")
    return lines


def tree_pss_mib(root: int) -> tuple[float, float]:
    """(total, largest single process) proportional set size of `root` and all its descendants,
    MiB: the daemon's warm process and the run workers forked from it run in sessions of their
    own, and share much of their memory with it (resident sizes would count that once each)."""
    parents: dict[int, int] = {}
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{entry}/stat").read()
            parents[int(entry)] = int(stat[stat.rfind(")") + 2:].split()[1])
        except (OSError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in tree]
        tree.update(children)
        frontier.extend(children)
    sizes = []
    for pid in tree:  # only the tree's: reading a process's page tables is not free
        try:
            sizes.append(next((int(line.split()[1]) / 1024 for line in open(f"/proc/{pid}/smaps_rollup")
                               if line.startswith("Pss:")), 0.0))
        except OSError:
            continue
    return sum(sizes), max(sizes, default=0.0)


def dev_pid(home: Path) -> int:
    """The `dagster dev` serving `home` (its daemon, code server, run workers descend from it)."""
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            argv = open(f"/proc/{entry}/cmdline", "rb").read().split(b"\0")
            if b"dev" in argv and os.readlink(f"/proc/{entry}/cwd") == str(home):
                return int(entry)
        except OSError:
            continue
    raise SystemExit(f"no dagster dev process found for {home}")


class MemoryWatch(threading.Thread):
    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root, self.peak_total, self.peak_single = root, 0.0, 0.0
        self.stop = threading.Event()
        self.start()

    def run(self) -> None:
        while not self.stop.wait(1.0):  # a sample a second (before: resident sizes every 0.25 s)
            total, single = tree_pss_mib(self.root)
            self.peak_total, self.peak_single = max(self.peak_total, total), max(self.peak_single, single)


def wait_for_sensor_runs(home: Path, count: int, started: float) -> None:
    """Until `count` runs of the inbox sensor exist and all have ended. Counted in the instance's
    storage: asking the webserver every 0.5 s would load it (~0.06 CPU-s a dataset) while it
    is measured."""
    import dagster as dg

    os.environ["DAGSTER_HOME"] = str(home)  # the instance's dagster.yaml reads it
    sensor_runs = dg.RunsFilter(tags={"intelli/origin": "sensor"})
    ended = dg.RunsFilter(tags={"intelli/origin": "sensor"}, statuses=[dg.DagsterRunStatus.SUCCESS,
                                                                     dg.DagsterRunStatus.FAILURE,
                                                                     dg.DagsterRunStatus.CANCELED])
    with dg.DagsterInstance.from_config(str(home)) as instance:
        while True:
            time.sleep(0.5)
            done, total = instance.get_runs_count(ended), instance.get_runs_count(sensor_runs)
            if done >= count and done == total:
                return
            if time.perf_counter() - started > 3600:
                raise SystemExit(f"only {done} of {count} runs ended after an hour")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--datasets", type=int, default=50)
    args = parser.parse_args()
    count = 3 if args.short else args.datasets
    with tempfile.TemporaryDirectory(prefix="intelli-batch-") as tmp:
        tmp = Path(tmp)
        books = [write_sample_workbook(tmp / "books" / f"espacenet-{i:03d}.xlsx", seed=100 + i) for i in range(count)]
        broken = tmp / "books" / "broken.xlsx"
        broken.write_bytes(b"PK\x03\x04 not really a workbook")
        baseline = [old_style_baseline(books[i % count], tmp) for i in range(3)]
        home, inbox = prepare_home(tmp / "home"), tmp / "inbox"
        inbox.mkdir()
        with dagster_dev(home, INTELLI_INBOX=str(inbox)) as url, IntelliClient(url) as client:
            watch = MemoryWatch(dev_pid(home))
            started, dropped_at = time.perf_counter(), time.time()
            for book in [*books, broken]:
                shutil.copy(book, inbox / book.name)
            wait_for_sensor_runs(home, count, started)
            watch.stop.set()
            runs = client.query(TIMED_RUNS, {"filter": {"tags": [{"key": "intelli/origin", "value": "sensor"}]}}
                                )["runsOrError"]["results"]
            wall = max(r["endTime"] for r in runs) - dropped_at  # when the last one ended, not when we looked
            statuses = [r["status"] for r in runs]
            partitions = {t["value"] for r in runs for t in r["tags"] if t["key"] == "dagster/partition"}
            refused = sorted(p.name for p in (inbox / "rejected").glob("*.xlsx"))
            timing = timing_lines(client, dropped_at)
        baseline_per = statistics.median(baseline)
    per = wall / count
    print(f"{count} distinct Filters workbooks dropped into the inbox at once (+1 broken file)")
    print(f"  jobs: {len(runs)} runs, {statuses.count('SUCCESS')} SUCCESS, {len(partitions)} distinct partitions; "
          f"refused alone: {', '.join(refused) or 'none'}")
    print(f"  drop -> last SUCCESS: {wall:.1f} s = {count / wall * 60:.1f} datasets/minute")
    print("\n".join(timing))
    print(f"  per dataset: {per:.2f} s; old-style baseline per dataset (same run, median of 3): {baseline_per:.2f} s")
    print(f"  per dataset / baseline: {per / baseline_per:.2f}x (target <= 0.33x)")
    print(f"  peak memory of the deployment's processes (proportional set size): {watch.peak_total:.0f} MiB "
          f"in all, {watch.peak_single:.0f} MiB the largest one")
    return 0 if statuses.count("SUCCESS") == count else 1


if __name__ == "__main__":
    sys.exit(main())
