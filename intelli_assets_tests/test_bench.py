"""The bench scripts run (short mode). They print figures; no timing is asserted here."""

from __future__ import annotations

import subprocess
import sys

from intelli_assets_tests.conftest import PROJECT_ROOT


def run_bench(script: str) -> str:
    proc = subprocess.run([sys.executable, str(PROJECT_ROOT / "bench" / script), "--short"],
                          capture_output=True, text=True, timeout=600, cwd=PROJECT_ROOT)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


def test_render_bench_short():
    out = run_bench("render_bench.py")
    for line in ("naive fig.write_image", "kaleido warm server", "project renderer (PNG+SVG)",
                 "matplotlib bar chart", "naive / project", "matplotlib / project"):
        assert line in out


def test_e2e_bench_short():
    out = run_bench("e2e_bench.py")
    for line in ("intelli run wall time", "Dagster run", "rendering in Chromium", "old-backend-style baseline",
                 "ratio intelli run / baseline", "floors, same run", "the mandatory work alone",
                 "peak RSS, main process"):
        assert line in out


def test_records_bench_short():
    out = run_bench("records_bench.py")
    for line in ("results list CSV", "Lens pages", "read + normalise + facets", "ours / baseline", "time ratio"):
        assert line in out


def test_report_bench_short():
    out = run_bench("report_bench.py")
    for line in ("rendering charts", "landscape report", "PDF print", "report / render",
                 "0 during the report", "pid unchanged"):
        assert line in out


def test_load_bench_short():
    """A burst through GraphQL on SQLite and PostgreSQL: every job SUCCESS, no limit exceeded
    (the script exits non-zero otherwise)."""
    out = run_bench("load_bench.py")
    for line in ("[sqlite] jobs SUCCESS: 4/4, lost: 0", "[postgres] jobs SUCCESS: 4/4, lost: 0", "jobs/minute",
                 "queue wait", "peak chart steps at once", "postgres / sqlite burst time"):
        assert line in out


# launch_bench.py and batch_bench.py each start a deployment and time it against cold runs:
# minutes of CI for scripts whose parts (warm launches, the inbox, GraphQL) the suite tests
# on their own; they are run by hand (figures in the README).
