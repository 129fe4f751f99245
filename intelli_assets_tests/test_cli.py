"""`intelli` as a user runs it: a subprocess against a temporary DAGSTER_HOME."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from intelli_assets.charts import CHARTS, charts_fed_by
from intelli_assets_tests.bad_inputs import BAD_INPUTS, countries_workbook
from intelli_assets_tests.conftest import SHARED_DATA, real_workbook
from intelli_assets_tests.postgres import InstanceHome

INTELLI = [str(Path(sys.executable).parent / "intelli")]  # the console script a user runs


def intelli(*args: str, home: Path, check_json: bool = False) -> subprocess.CompletedProcess:
    env = {**os.environ, "DAGSTER_HOME": str(home)}
    env.pop("INTELLI_ARTIFACTS_DIR", None)
    proc = subprocess.run([*INTELLI, *args], capture_output=True, text=True, env=env, timeout=300)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc


def instance_state(home: Path) -> dict:
    """What a second process sees in the instance."""
    code = (
        "import json, dagster as dg\n"
        "i = dg.DagsterInstance.get()\n"
        "key = dg.AssetKey(['charts', 'top_patent_countries'])\n"
        "recs = i.fetch_materializations(key, limit=20).records\n"
        "print(json.dumps({'partitions': i.get_dynamic_partitions('datasets'),"
        " 'runs': len(i.get_runs()), 'chart_partitions': [r.partition_key for r in recs],"
        " 'pools': {p: i.event_log_storage.get_concurrency_info(p).slot_count"
        " for p in sorted(i.event_log_storage.get_concurrency_keys())}}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         env={**os.environ, "DAGSTER_HOME": str(home)})
    return json.loads(out.stdout)


def test_run_real_workbook_json_and_second_process_sees_it(tmp_path):
    workbook = real_workbook("Filters_20250331_1141")
    home = tmp_path / "home"
    proc = intelli("run", str(workbook), "--charts", "top_patent_countries", "--json", home=home)
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["status"] == "success" and report["dagster_job"] == "dataset_charts" and report["job"] == report["run_id"]
    assert report["partition"].startswith("filters-20250331-1141-")
    files = report["charts"]["top_patent_countries"]["files"]
    assert set(files) == {"png", "svg", "html", "chart_data"}
    assert Path(files["png"]).read_bytes()[:4] == b"\x89PNG"
    assert "<svg" in Path(files["svg"]).read_text()[:300]
    data = json.loads(Path(files["chart_data"]).read_text())
    reference = json.loads((SHARED_DATA / "seed-reference" / "Filters_20250331_1141.chart_data.json").read_text())
    old = reference["top_patent_countries"]["chart_data"]
    assert dict(zip(data["series"][0]["labels"], data["series"][0]["data"])) == \
        dict(zip(old["series"][0]["labels"], old["series"][0]["data"]))
    assert files["png"].startswith(str(home / "artifacts" / report["partition"] / "top_patent_countries"))
    state = instance_state(home)
    assert state["partitions"] == [report["partition"]]
    assert state["chart_partitions"] == [report["partition"]]
    assert state["pools"] == {"ai": 2, "charts_cpu": 2, "ingestion_io": 4}


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_same_bytes_under_any_name_are_one_partition(tmp_path, sample_workbook, backend_home: InstanceHome):
    home = backend_home.path  # its DAGSTER_PG_* (postgres) are in the environment `intelli` inherits
    first = json.loads(intelli("run", str(sample_workbook), "--charts", "top_patent_countries", "--json",
                               home=home).stdout)
    copy = tmp_path / sample_workbook.name
    copy.write_bytes(sample_workbook.read_bytes())  # same bytes, another folder
    second = json.loads(intelli("run", str(copy), "--charts", "top_patent_countries", "--json", home=home).stdout)
    assert first["partition"] == second["partition"]
    assert first["run_id"] != second["run_id"]
    renamed = tmp_path / "Patents for the board (final).xlsx"  # same bytes, another name
    renamed.write_bytes(sample_workbook.read_bytes())
    third = json.loads(intelli("run", str(renamed), "--charts", "top_patent_countries", "--json", home=home).stdout)
    assert third["partition"] == first["partition"] and third["status"] == "success"
    state = instance_state(home)
    assert state["partitions"] == [first["partition"]] and state["runs"] == 3
    assert backend_home.stored_runs() == {r["run_id"]: "SUCCESS" for r in (first, second, third)}  # in that backend
    stored = list((home / "artifacts" / first["partition"] / "raw").glob("*.xlsx"))
    assert [p.name for p in stored] == [sample_workbook.name]  # the bytes are kept once


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_and_leaves_nothing(case, tmp_path):
    make, expected = BAD_INPUTS[case]
    path = make(tmp_path)
    home = tmp_path / "home"
    proc = intelli("run", str(path), "--json", home=home)
    assert proc.returncode == 2
    assert str(path) in proc.stderr and expected in proc.stderr
    assert json.loads(proc.stdout)["status"] == "invalid"
    state = instance_state(home)
    assert state["partitions"] == [] and state["runs"] == 0


def test_invalid_setting_exits_2_before_any_work(tmp_path, sample_workbook):
    home = tmp_path / "home"
    proc = intelli("run", str(sample_workbook), "--charts", "top_patent_countries,cpc_treemap",
                   "--set", "top_n=0", home=home)
    assert proc.returncode == 2 and "parameter 'top_n' must be between 1 and 500, got 0" in proc.stderr
    proc = intelli("run", str(sample_workbook), "--charts", "patent_evolution", "--set", "top_n=3", home=home)
    assert proc.returncode == 2 and "unknown setting(s) top_n" in proc.stderr
    proc = intelli("run", str(sample_workbook), "--charts", "nope", home=home)
    assert proc.returncode == 2 and "unknown chart 'nope'" in proc.stderr
    assert instance_state(home)["runs"] == 0


def test_failed_chart_exits_1_and_others_succeed(tmp_path):
    path = countries_workbook(tmp_path / "countries-only.xlsx", [("CN", 5), ("EC", 2)])
    proc = intelli("run", str(path), "--charts", "top_patent_countries,cpc_treemap", "--json", home=tmp_path / "h")
    assert proc.returncode == 1
    report = json.loads(proc.stdout)
    assert report["status"] == "partial_success"
    assert report["charts"]["top_patent_countries"]["status"] == "success"
    assert report["charts"]["cpc_treemap"]["status"] == "failed"
    assert "'cpc_subgroups' facet (sheet 'CPC subgroups')" in report["charts"]["cpc_treemap"]["error"]


def test_validate(tmp_path, sample_workbook):
    ok = intelli("validate", str(sample_workbook), "--json", home=tmp_path)
    assert ok.returncode == 0 and json.loads(ok.stdout)["sheets"]["Countries (family)"]["rows"] == 20
    bad = intelli("validate", str(BAD_INPUTS["non_numeric_counts"][0](tmp_path)), home=tmp_path)
    assert bad.returncode == 2 and "row 3 has 'many'" in bad.stderr


def test_demo_renders_all_charts(tmp_path):
    proc = intelli("demo", "--json", "--set", "language=en", home=tmp_path / "home")
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert {k: v["status"] for k, v in report["charts"].items()} == dict.fromkeys(report["charts"], "success")
    assert set(report["charts"]) == set(charts_fed_by(CHARTS, has_records=False))  # a Filters workbook: 8 + map
    assert len(report["charts"]) == 9 and "jurisdiction_map" in report["charts"]
    forecast = json.loads(Path(report["charts"]["patent_forecast"]["files"]["chart_data"]).read_text())
    assert len(forecast["forecast_ets"]) == 6 and forecast["models"]["arima"]["order"]


def test_progress_lines_on_the_terminal(tmp_path, sample_workbook):
    proc = intelli("run", str(sample_workbook), "--charts", "patent_evolution", home=tmp_path / "home")
    assert proc.returncode == 0
    assert "[ 3/3] charts/patent_evolution: done" in proc.stderr
    assert "patent_evolution           success" in proc.stdout
