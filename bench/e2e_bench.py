"""`intelli run <workbook> --charts all` (PNG + SVG) end to end, with the Dagster overhead separated out.

In the same run it times an old-backend-style baseline: the eight charts drawn one after the
other with matplotlib (PNG + SVG), each re-reading its sheet from the Excel file with openpyxl,
as the Django/Celery backend did. Prints seconds and the ratio.

Usage: python bench/e2e_bench.py [--short] [--workbook PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "espacenet" / "Filters_20250331_1141.xlsx"
INTELLI = Path(sys.executable).parent / "intelli"
# the eight charts the old backend drew (the baseline draws them too)
EIGHT = ["top_patent_countries", "top_patent_applicants", "top_patent_inventors", "patent_evolution",
         "patent_cumulative", "patent_trends_cumulative", "patent_forecast", "cpc_treemap"]
OLD_STYLE_SHEETS = [("Countries (family)", "barh"), ("Applicants", "barh"), ("Inventors", "barh"),
                    ("Earliest publication date (fam", "line"), ("Earliest publication date (fam", "line"),
                    ("Earliest publication date (fam", "line2"), ("Earliest publication date (fam", "line"),
                    ("CPC subgroups", "bar")]


def busy_cpu_seconds() -> float:
    """CPU time this machine spent working (all processes, both cores), steal excluded: a
    figure the host's noisy neighbours do not inflate, unlike wall time."""
    try:
        user, nice, system, _idle, _iowait, irq, softirq = map(int, open("/proc/stat").readline().split()[1:8])
    except OSError:
        return float("nan")
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def old_style_baseline(workbook: Path, out: Path) -> float:
    """Sequential matplotlib charts with a per-chart Excel re-read (openpyxl), PNG + SVG each,
    and the forecast's model fitting. Plainer figures than the old backend drew: a lower bound."""
    code = f"""
import time, pandas as pd, matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
t = time.perf_counter()
for i, (sheet, kind) in enumerate({OLD_STYLE_SHEETS!r}):
    df = pd.read_excel({str(workbook)!r}, sheet_name=sheet, engine="openpyxl")
    fig, ax = plt.subplots(figsize=(12, 10))
    top = df.nlargest(15, df.columns[1]) if kind != "line" and kind != "line2" else df
    x, y = top.iloc[:, 0].astype(str), top.iloc[:, 1]
    {{"barh": ax.barh, "bar": ax.bar}}.get(kind, ax.plot)(x, y)
    if kind == "line2":
        ax.twinx().plot(x, y.cumsum())
    if i == 6:  # the forecast chart fitted ETS and ARIMA models (pmdarima there; statsmodels here)
        from intelli_assets.forecasting import forecast_series
        forecast_series([int(v) for v in y.tail(20)])
    for fmt in ("png", "svg"):
        fig.savefig(f"{out}/old{{i}}.{{fmt}}", dpi=100, bbox_inches="tight")
    plt.close(fig)
print(time.perf_counter() - t)
"""
    start = time.perf_counter()
    _, rss = run_measured([sys.executable, "-c", code], cwd=ROOT)
    OLD_STYLE_RSS.append(rss)
    return time.perf_counter() - start  # includes the interpreter and import start-up, like a worker


OLD_STYLE_RSS: list[float] = []


def run_measured(argv: list[str], **kwargs) -> tuple[str, float]:
    """(stdout, peak RSS in MiB of the process itself) of a command that must succeed."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(argv, stdout=out, stderr=err, **kwargs)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        if proc.returncode != 0:
            raise SystemExit(f"{argv[0]} failed ({proc.returncode}):\n{err.read().decode()[-3000:]}")
        return out.read().decode(), usage.ru_maxrss / 1024


def run_intelli(workbook: Path, home: Path) -> tuple[float, float, dict]:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    cpu = busy_cpu_seconds()
    start = time.perf_counter()
    stdout, rss = run_measured([str(INTELLI), "run", str(workbook), "--charts", ",".join(EIGHT), "--set",
                                "formats=png,svg", "--json"], env=env)
    wall = time.perf_counter() - start
    INTELLI_RSS.append(rss)
    return wall, busy_cpu_seconds() - cpu, json.loads(stdout)


INTELLI_RSS: list[float] = []


def imports_alone() -> float:
    """Wall time of a process that only imports what a run of the main job cannot do without:
    a floor under any cold `intelli run`, whatever the run itself costs."""
    start = time.perf_counter()
    run_measured([sys.executable, "-c", "import dagster, pandas, plotly.graph_objects"], cwd=ROOT)
    return time.perf_counter() - start


def mandatory_work_cpu(workbook: Path, home: Path) -> float:
    """CPU seconds (this process and its Chromium) of only the work a cold `intelli run` of
    the eight charts cannot skip, done once with nothing else: import dagster, pandas, plotly
    and openpyxl, open the instance (its SQLite storage), read the workbook, build the eight
    figures, fit the forecast models, start Chromium and draw PNG + SVG. No Dagster run, no
    event, no file written. Spread perfectly over the cores, it is a floor under any cold run
    on this machine."""
    code = f"""
import dagster as dg, pandas, plotly.graph_objects, openpyxl
from intelli_assets.charts import get_chart
from intelli_assets.dataset import Dataset, build_manifest
from intelli_assets.rendering import FigureRenderer
from intelli_assets.sources import FILTERS, read_source
from intelli_assets.style import Style
dg.DagsterInstance.get().get_runs(limit=1)
data = read_source({str(workbook)!r}, FILTERS)
dataset = Dataset(data.facets, build_manifest(data.facets, data, {{"source_type": FILTERS}}))
with FigureRenderer() as renderer:
    for key in {EIGHT!r}:
        renderer.render(get_chart(key).run(dataset, {{}}, Style()).figure, ["png", "svg"])
    chromium = group_cpu_seconds(renderer.browser_pid)  # its processes, before they are killed
import resource
own = resource.getrusage(resource.RUSAGE_SELF)
print(chromium + own.ru_utime + own.ru_stime)
"""
    stdout, _ = run_measured([sys.executable, "-c", CPU_OF_GROUP + code], cwd=ROOT,
                             env={**os.environ, "DAGSTER_HOME": str(home)})
    return float(stdout)


CPU_OF_GROUP = """
import os
def group_cpu_seconds(pgid):
    total = 0.0
    for entry in filter(str.isdigit, os.listdir("/proc")):
        try:
            stat = open(f"/proc/{entry}/stat").read()
            fields = stat[stat.rfind(")") + 2:].split()
            if int(fields[2]) == pgid:
                total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        except (OSError, ValueError):
            continue
    return total
"""


def run_breakdown(home: Path, run_id: str) -> dict:
    code = f"""
import json, dagster as dg
i = dg.DagsterInstance.get()
logs = i.all_logs({run_id!r})
t = {{}}
meta = {{"build": 0.0, "render": 0.0}}
for r in logs:
    e = r.dagster_event
    if e is None:
        continue
    t.setdefault(e.event_type_value + ":" + str(r.step_key), r.timestamp)
    if e.event_type_value == "ASSET_MATERIALIZATION" and "render_ms" in e.event_specific_data.materialization.metadata:
        meta["build"] += e.event_specific_data.materialization.metadata["build_ms"].value / 1000
        meta["render"] += e.event_specific_data.materialization.metadata["render_ms"].value / 1000
steps = {{k.split(":", 1)[1]: t["STEP_SUCCESS:" + k.split(":", 1)[1]] - v for k, v in t.items()
         if k.startswith("STEP_START:") and "STEP_SUCCESS:" + k.split(":", 1)[1] in t}}
rec = i.get_run_record_by_id({run_id!r})
run = rec.end_time - rec.start_time
print(json.dumps({{"run": run, "steps": steps, **meta}}))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "DAGSTER_HOME": str(home)})
    return json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--short", action="store_true", help="one repetition (CI); no timing claims")
    parser.add_argument("--workbook", type=Path)
    args = parser.parse_args()
    reps = 1 if args.short else 5
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        if args.workbook:
            workbook = args.workbook
        elif REAL.exists():
            workbook = REAL
        else:
            sys.path.insert(0, str(ROOT))
            from intelli_assets.sample_workbook import write_sample_workbook

            workbook = write_sample_workbook(tmp / "sample.xlsx")
        results = []
        for rep in range(reps):
            # a user's instance already exists: create it (tables, pools) outside the timing
            subprocess.run([str(INTELLI), "run", str(workbook), "--charts", "patent_evolution", "--json"],
                           capture_output=True, env={**os.environ, "DAGSTER_HOME": str(tmp / f"home{rep}")})
            old = old_style_baseline(workbook, tmp)
            wall, cpu, report = run_intelli(workbook, tmp / f"home{rep}")
            results.append((old, wall, run_breakdown(tmp / f"home{rep}", report["run_id"]), cpu, imports_alone(),
                            mandatory_work_cpu(workbook, tmp / f"home{rep}")))
    old, wall, bd, _, _, _ = sorted(results, key=lambda r: r[1])[len(results) // 2]  # the median run
    walls = sorted(r[1] for r in results)
    cpu = sorted(r[3] for r in results)[len(results) // 2]
    imports = sorted(r[4] for r in results)[len(results) // 2]
    mandatory = sorted(r[5] for r in results)[len(results) // 2]
    cores = os.cpu_count() or 1
    charts_step = bd["steps"].get("charts", 0.0)
    print(f"workbook: {workbook.name}; the old backend's 8 charts, PNG+SVG; median of {reps}")
    print(f"intelli run wall time:          {wall:6.2f} s  (all runs: {', '.join(f'{w:.2f}' for w in walls)})")
    print(f"  CPU time, all processes:      {cpu:6.2f} s  (median; Chromium and the forecast worker included)")
    print(f"  process start-up + CLI:       {wall - bd['run']:6.2f} s  (imports, instance, validation, run creation)")
    print(f"  Dagster run:                  {bd['run']:6.2f} s")
    print(f"    charts step (all 8):        {charts_step:6.2f} s")
    print(f"      chart algorithms (build): {bd['build']:6.2f} s")
    print(f"      rendering in Chromium:    {bd['render']:6.2f} s  (overlaps building, on the other core)")
    print(f"      the rest of the step:     {charts_step - bd['build']:6.2f} s  (HTML, files, events, render waits)")
    print(f"    Dagster overhead + ingest:  {bd['run'] - charts_step:6.2f} s  (run/step events, raw_source, patent_dataset)")
    for step, seconds in sorted(bd["steps"].items(), key=lambda kv: -kv[1]):
        print(f"      step {step:<31}{seconds:6.2f} s")
    print(f"old-backend-style baseline:     {old:6.2f} s  (matplotlib + per-chart openpyxl re-read)")
    print(f"ratio intelli run / baseline:   {wall / old:6.2f}x  (target <= 0.5x)")
    print(f"  floors, same run: the CPU time spread over {cores} cores {cpu / cores:.2f} s = {cpu / cores / old:.2f}x; "
          f"importing dagster, pandas, plotly alone {imports:.2f} s = {imports / old:.2f}x")
    print(f"  the mandatory work alone (imports, instance, read, build, fit, Chromium, draw; no run, no events): "
          f"{mandatory:.2f} CPU-s, over {cores} cores {mandatory / cores:.2f} s = {mandatory / cores / old:.2f}x")
    print(f"peak RSS, main process:         {sorted(INTELLI_RSS)[len(INTELLI_RSS) // 2]:6.0f} MiB intelli run, "
          f"{sorted(OLD_STYLE_RSS)[len(OLD_STYLE_RSS) // 2]:.0f} MiB baseline (medians)")


if __name__ == "__main__":
    main()
