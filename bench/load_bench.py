"""A burst of chart jobs launched through GraphQL on a running deployment (webserver + daemon
on loopback), on SQLite and on a real PostgreSQL.

For each backend: one dataset is registered and built, one job is timed alone (the baseline,
in the same run), then N jobs are launched as fast as one client can and followed to the end.
Prints jobs/minute, the queue wait (creation -> start), the peak number of runs and of chart
steps running at once (never above `max_concurrent_runs` and the `charts_cpu` pool), and the
burst's speed-up over running the N jobs one after the other. Every job must end SUCCESS.

Usage: python bench/load_bench.py [--short] [--jobs N] [--backends sqlite,postgres]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intelli_assets.client import IntelliClient  # noqa: E402
from intelli_assets.sample_workbook import write_sample_workbook  # noqa: E402
from intelli_assets_tests.postgres import PostgresServer, start_postgres  # noqa: E402
from intelli_assets_tests.servers import dagster_dev, prepare_home  # noqa: E402

CHART_PAIRS = [["top_patent_countries", "patent_evolution"], ["top_patent_applicants", "patent_cumulative"],
               ["top_patent_inventors", "cpc_treemap"], ["patent_trends_cumulative", "top_patent_countries"]]
RUN_STATS = """
query Stats($filter: RunsFilter!) {
  runsOrError(filter: $filter) { ... on Runs { results {
    runId status creationTime startTime endTime stepStats { stepKey startTime endTime }
  } } }
  instance { runQueueConfig { maxConcurrentRuns } concurrencyLimits { concurrencyKey slotCount } }
}
"""


def peak_overlap(intervals: list[tuple[float, float]]) -> int:
    """The most intervals open at one instant (an end at t closes before a start at t)."""
    edges = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals],
                   key=lambda edge: (edge[0], edge[1]))
    peak = current = 0
    for _, step in edges:
        current += step
        peak = max(peak, current)
    return peak


def run_backend(backend: str, jobs: int, workdir: Path, server: PostgresServer | None) -> dict:
    home = workdir / backend
    home.mkdir(parents=True)
    config = ROOT / ("deploy/postgres/dagster.yaml" if backend == "postgres" else "intelli_assets/dagster.yaml")
    (home / "dagster.yaml").write_text(config.read_text())
    env = {"DAGSTER_HOME": str(home), **(server.env(server.create_database()) if server else {})}
    prepare_home(home, **env)
    workbook = write_sample_workbook(home / "drop" / "espacenet-sample.xlsx")
    with dagster_dev(home, **env) as url, IntelliClient(url, requested_by="load-bench") as client:
        partition, path = client.register_dataset(str(workbook))
        first = client.launch(partition, CHART_PAIRS[0], source_path=path)  # builds the dataset
        assert client.wait(first.job, timeout=600).status == "SUCCESS"
        alone = []
        for pair in CHART_PAIRS[:2]:  # the baseline: one job with the deployment to itself
            started = time.perf_counter()
            job = client.launch(partition, pair)
            assert client.wait(job.job, timeout=600, poll=0.2).status == "SUCCESS"
            alone.append(time.perf_counter() - started)
        burst_started = time.perf_counter()
        launched = [client.launch(partition, CHART_PAIRS[i % len(CHART_PAIRS)], {"top_n": 5 + i % 10})
                    for i in range(jobs)]
        launch_seconds = time.perf_counter() - burst_started
        finished = [client.wait(job.job, timeout=1800) for job in launched]
        burst = time.perf_counter() - burst_started
        run_ids = [job.run_id for job in launched]
        stats = client.query(RUN_STATS, {"filter": {"runIds": run_ids}})
    runs = stats["runsOrError"]["results"]
    limits = {c["concurrencyKey"]: c["slotCount"] for c in stats["instance"]["concurrencyLimits"]}
    waits = [r["startTime"] - r["creationTime"] for r in runs if r["startTime"]]
    chart_steps = [(s["startTime"], s["endTime"]) for r in runs for s in r["stepStats"]
                   if s["stepKey"] == "charts" and s["startTime"] and s["endTime"]]
    return {
        "backend": backend, "jobs": jobs, "succeeded": sum(j.status == "SUCCESS" for j in finished),
        "lost": jobs - len(runs), "launch_s": launch_seconds, "burst_s": burst, "alone_s": statistics.median(alone),
        "wait_median": statistics.median(waits), "wait_max": max(waits),
        "peak_runs": peak_overlap([(r["startTime"], r["endTime"]) for r in runs if r["startTime"]]),
        "max_runs": stats["instance"]["runQueueConfig"]["maxConcurrentRuns"],
        "peak_chart_steps": peak_overlap(chart_steps), "charts_pool": limits.get("charts_cpu"),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="a few jobs per backend (CI)")
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--backends", default="sqlite,postgres")
    args = parser.parse_args()
    jobs = 4 if args.short else args.jobs
    backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    results = []
    with tempfile.TemporaryDirectory(prefix="intelli-load-") as tmp:
        server = start_postgres() if "postgres" in backends else None
        try:
            for backend in backends:
                print(f"== {backend}: {jobs} jobs launched through GraphQL in a burst", flush=True)
                results.append(run_backend(backend, jobs, Path(tmp), server if backend == "postgres" else None))
        finally:
            if server:
                server.stop()
    failed = False
    for r in results:
        sequential = r["jobs"] * r["alone_s"]
        print(f"\n[{r['backend']}] jobs SUCCESS: {r['succeeded']}/{r['jobs']}, lost: {r['lost']}")
        print(f"  launching {r['jobs']} jobs took {r['launch_s']:.2f} s ({r['launch_s'] / r['jobs'] * 1000:.0f} ms each)")
        print(f"  burst: all ended after {r['burst_s']:.1f} s = {r['jobs'] / r['burst_s'] * 60:.1f} jobs/minute")
        print(f"  one job alone (baseline, same run): {r['alone_s']:.2f} s launch -> SUCCESS")
        print(f"  burst / one-after-the-other ({sequential:.1f} s): {r['burst_s'] / sequential:.2f}x the time")
        print(f"  queue wait (created -> started): median {r['wait_median']:.1f} s, max {r['wait_max']:.1f} s")
        print(f"  peak runs at once: {r['peak_runs']} (max_concurrent_runs {r['max_runs']})")
        print(f"  peak chart steps at once: {r['peak_chart_steps']} (charts_cpu pool {r['charts_pool']})")
        if r["succeeded"] != r["jobs"] or r["lost"] or r["peak_chart_steps"] > (r["charts_pool"] or 0) \
                or r["peak_runs"] > r["max_runs"]:
            failed = True
            print("  !! a job failed or was lost, or a limit was exceeded")
    if len(results) == 2:
        a, b = results
        print(f"\n{b['backend']} / {a['backend']} burst time: {b['burst_s'] / a['burst_s']:.2f}x")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
