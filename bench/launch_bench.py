"""Interactive re-render: one chart launched through GraphQL on a running webserver + daemon,
launch -> SUCCESS, beside a cold `intelli run FILE --charts <chart>` of the same chart in the
same bench run (the baseline).

For each launch it prints where the time went, from the run's own events: queue wait
(created -> dequeued), run-worker start (dequeued -> the worker's first event: the fork, or a
process start and code-location import), run set-up (-> the charts step starts: instance,
resources), the charts step (the chart, and the browser start unless the warm worker started it
ahead), and run teardown and event writes (step end -> SUCCESS). What is left of the launch ->
SUCCESS time is the client's: the launch request and reading the result.

Usage: python bench/launch_bench.py [--short] [--rounds N] [--workbook PATH] [--chart KEY]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intelli_assets.client import IntelliClient  # noqa: E402
from intelli_assets.sample_workbook import write_sample_workbook  # noqa: E402
from intelli_assets_tests.servers import dagster_dev, prepare_home  # noqa: E402

REAL = ROOT.parent / "shared" / "data" / "espacenet" / "Filters_20250331_1141.xlsx"
INTELLI = Path(sys.executable).parent / "intelli"
TIMINGS = """
query Timings($runId: ID!) {
  runOrError(runId: $runId) { ... on Run { creationTime startTime endTime status
    stepStats { stepKey startTime endTime } } }
  logsForRun(runId: $runId, limit: 1000) { ... on EventConnection { events {
    __typename ... on MessageEvent { timestamp message eventType } } } }
}
"""


def cold_run(workbook: Path, chart: str, home: Path) -> float:
    """A cold `intelli run` of one chart: process start, imports, instance, browser, chart."""
    started = time.perf_counter()
    proc = subprocess.run([str(INTELLI), "run", str(workbook), "--charts", chart, "--set", "formats=png,svg",
                           "--json"], capture_output=True, text=True, env={**os.environ, "DAGSTER_HOME": str(home)},
                          timeout=600)
    elapsed = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-2000:]
    return elapsed


def breakdown(client: IntelliClient, run_id: str) -> dict[str, float]:
    data = client.query(TIMINGS, {"runId": run_id})
    run = data["runOrError"]
    events = [(int(e["timestamp"]) / 1000, e.get("eventType"), e.get("message", ""))
              for e in data["logsForRun"]["events"] if "timestamp" in e]
    dequeued = next(t for t, kind, _ in events if kind == "RUN_STARTING")
    first_worker = next(t for t, kind, _ in events if kind == "RUN_START")
    step = next(s for s in run["stepStats"] if s["stepKey"] == "charts")
    return {
        "queue wait": dequeued - run["creationTime"],
        "run-worker start + imports": first_worker - dequeued,
        "run set-up (resources)": step["startTime"] - first_worker,
        "charts step": step["endTime"] - step["startTime"],
        "teardown + event writes": run["endTime"] - step["endTime"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true")
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--workbook", type=Path, default=REAL if REAL.exists() else None)
    parser.add_argument("--chart", default="top_patent_countries")
    args = parser.parse_args()
    rounds = 2 if args.short else args.rounds
    with tempfile.TemporaryDirectory(prefix="intelli-launch-") as tmp:
        tmp = Path(tmp)
        workbook = args.workbook or write_sample_workbook(tmp / "espacenet-sample.xlsx")
        server_home, cold_home = prepare_home(tmp / "server"), prepare_home(tmp / "cold")
        cold_run(workbook, args.chart, cold_home)  # builds the cold home's dataset: later runs are re-renders
        with dagster_dev(server_home) as url, IntelliClient(url, requested_by="launch-bench") as client:
            partition, path = client.register_dataset(str(workbook))
            assert client.wait(client.launch(partition, [args.chart], source_path=path).job).status == "SUCCESS"
            interactive, colds, parts = [], [], []
            for i in range(rounds):  # alternating, so both see the same machine load
                colds.append(cold_run(workbook, args.chart, cold_home))
                started = time.perf_counter()
                launched = client.launch(partition, [args.chart], {"top_n": 10 + i % 5})
                job = client.wait(launched.job, timeout=600, poll=0.05)
                interactive.append(time.perf_counter() - started)
                assert job.status == "SUCCESS", job.to_dict()
                parts.append(breakdown(client, launched.run_id))
    cold, warm = statistics.median(colds), statistics.median(interactive)
    print(f"chart {args.chart}, {rounds} rounds, medians; workbook {workbook.name}")
    print(f"cold `intelli run --charts {args.chart}` (baseline): {cold:.2f} s")
    print(f"GraphQL launch -> SUCCESS on a running deployment: {warm:.2f} s")
    for name in parts[0]:
        values = [p[name] for p in parts if name in p]
        print(f"    {name:<32} {statistics.median(values):6.2f} s")
    print(f"interactive / cold: {warm / cold:.2f}x (target <= 0.5x)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
