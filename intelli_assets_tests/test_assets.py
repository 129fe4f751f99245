"""The asset graph with materialize(): real files, real Chromium, a persistent test instance."""

from __future__ import annotations

import json
import os
from pathlib import Path

import dagster as dg
import pytest
from openpyxl import Workbook

from intelli_assets.dataset import file_sha256, partition_key_for
from intelli_assets.defs.charts.assets import chart_assets
from intelli_assets.defs.charts.resources import ChartRenderer, ForecastFitting
from intelli_assets.defs.common.partitions import DATASETS_PARTITIONS_NAME
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.datasets.assets import patent_dataset
from intelli_assets.defs.sources.assets import raw_source
from intelli_assets.defs.sources.resources import LensApi
from intelli_assets.style import Style
from intelli_assets_tests.bad_inputs import countries_workbook
from intelli_assets_tests.fake_lens import FakeLens, write_query

ASSETS = [raw_source, patent_dataset, *chart_assets]
COUNTRIES = dg.AssetKey(["charts", "top_patent_countries"])
RAW, DATASET = dg.AssetKey("raw_source"), dg.AssetKey("patent_dataset")


def partition_for(instance: dg.DagsterInstance, path: Path) -> str:
    key = partition_key_for(path.name, file_sha256(path))
    instance.add_dynamic_partitions(DATASETS_PARTITIONS_NAME, [key])
    return key


def materialize(instance, store_root, key, path, selection, charts_config=None):
    ops = {"raw_source": {"config": {"path": str(path)}}} if RAW in selection else {}
    if charts_config:
        ops["charts"] = {"config": charts_config}
    return dg.materialize(
        ASSETS,
        instance=instance,
        partition_key=key,
        selection=selection,
        resources={"store": ArtifactStore(root=str(store_root)), "renderer": ChartRenderer(),
                    "forecasts": ForecastFitting(), "lens": LensApi()},
        run_config={"ops": ops},
        raise_on_error=False,
    )


def chart_metadata(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    (event,) = [m for m in result.asset_materializations_for_node("charts") if m.asset_key == key]
    return event.metadata


@pytest.fixture
def instance():
    with dg.instance_for_test() as inst:
        yield inst


def test_source_dataset_and_chart(instance, tmp_path, sample_workbook):
    key = partition_for(instance, sample_workbook)
    result = materialize(instance, tmp_path, key, sample_workbook, [RAW, DATASET, COUNTRIES],
                         {"language": "en", "top_patent_countries": {"top_n": 5}})
    assert result.success
    raw = (tmp_path / key / "raw" / sample_workbook.name).read_bytes()
    assert raw == sample_workbook.read_bytes()
    manifest = json.loads((tmp_path / key / "dataset" / "manifest.json").read_text())
    assert manifest["schema_version"] == "3" and manifest["summary_stats"]["facets"]["countries"]["total"] == 267
    checks = {e.check_name: e.passed for e in result.get_asset_check_evaluations()}
    assert checks == dict.fromkeys(checks, True) and len(checks) == 6
    meta = chart_metadata(result, COUNTRIES)
    assert meta["preview"].value.startswith("![top_patent_countries](data:image/png;base64,")
    data = json.loads(Path(meta["chart_data_path"].value).read_text())
    # top 5 plus Ecuador (rank 8) as its own bar, plus Others; largest last
    assert data["series"][0]["labels"] == ["Others", "EC", "KR", "EP", "WO", "US", "CN"]
    assert data["totals"]["ecuador_rank"] == 8
    assert meta["chart_data"].value["totals"]["total_publications"] == 267
    for fmt in ("png", "svg", "html"):
        assert Path(meta[f"{fmt}_path"].value).stat().st_size > 1000
    assert meta["params"].value["params"] == {"top_n": 5}


def test_other_params_never_overwrite_an_earlier_render(instance, tmp_path, sample_workbook):
    key = partition_for(instance, sample_workbook)
    materialize(instance, tmp_path, key, sample_workbook, [RAW, DATASET])
    paths = []
    for top_n in (5, 10, 5):
        result = materialize(instance, tmp_path, key, sample_workbook, [COUNTRIES],
                             {"top_patent_countries": {"top_n": top_n}})
        paths.append(chart_metadata(result, COUNTRIES)["png_path"].value)
    assert paths[0] != paths[1] and paths[0] == paths[2]
    assert all(Path(p).exists() for p in paths)
    history = instance.fetch_materializations(COUNTRIES, limit=10).records
    assert len(history) == 3  # every render is in the audit trail


class StoreCancellingItsRun(ArtifactStore):
    """The store, marking its run CANCELED as the run sets up: what the webserver does to a run a
    cancel saw queued or starting (MARK_AS_CANCELED_IMMEDIATELY), with no signal reaching its
    worker. With `hidden`, a PIPELINE_START follows, as when the cancel lands between the worker
    loading the run and reporting its start: the status says STARTED again."""

    hidden: bool = False

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        run = context.run
        context.instance.report_run_canceled(run, "Cancelled before it started.")
        if self.hidden:
            context.instance.report_dagster_event(
                dg.DagsterEvent(event_type_value="PIPELINE_START", job_name=run.job_name), run_id=run.run_id)
            assert context.instance.get_run_by_id(run.run_id).status == dg.DagsterRunStatus.STARTED


@pytest.mark.parametrize("hidden", [False, True], ids=["status-cancelled", "cancel-hidden-by-start"])
def test_a_run_cancelled_while_starting_draws_nothing(instance, tmp_path, sample_workbook, hidden):
    key = partition_for(instance, sample_workbook)
    materialize(instance, tmp_path, key, sample_workbook, [RAW, DATASET])
    store = StoreCancellingItsRun(root=str(tmp_path), hidden=hidden)
    result = dg.materialize(ASSETS, instance=instance, partition_key=key, selection=[COUNTRIES],
                            resources={"store": store, "renderer": ChartRenderer(), "forecasts": ForecastFitting(),
                                       "lens": LensApi()},
                            raise_on_error=False)
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.CANCELED
    assert instance.fetch_materializations(COUNTRIES, limit=5).records == []
    assert not (tmp_path / key / "top_patent_countries").exists()  # no file drawn either


def test_a_lens_fetch_cancelled_as_its_run_starts_sends_no_request(instance, tmp_path, monkeypatch):
    monkeypatch.setenv("LENS_API_TOKEN", "lens-token-for-tests")
    query = write_query(tmp_path, "antigen")
    key = partition_for(instance, query)
    with FakeLens(25) as lens:
        result = dg.materialize([raw_source], instance=instance, partition_key=key, raise_on_error=False,
                                resources={"store": StoreCancellingItsRun(root=str(tmp_path / "store"), hidden=True),
                                           "lens": LensApi(base_url=lens.url)},
                                run_config={"ops": {"raw_source": {"config": {"path": str(query)}}}})
        assert lens.requests == []  # not one page of the API's quota spent
    assert instance.get_run_by_id(result.run_id).status == dg.DagsterRunStatus.CANCELED
    assert instance.fetch_materializations(RAW, limit=5).records == []


def test_invalid_chart_param_fails_the_step_with_a_clear_message(instance, tmp_path, sample_workbook):
    key = partition_for(instance, sample_workbook)
    materialize(instance, tmp_path, key, sample_workbook, [RAW, DATASET])
    result = materialize(instance, tmp_path, key, sample_workbook, [COUNTRIES],
                         {"highlight_country": "ECU", "top_patent_countries": {"top_n": 0}})
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "highlight_country 'ECU' must be a two-letter code" in message
    assert instance.fetch_materializations(COUNTRIES, limit=5).records == []
    with pytest.raises(dg.DagsterInvalidConfigError, match="not in enum type PaletteName got neon"):
        materialize(instance, tmp_path, key, sample_workbook, [COUNTRIES], {"palette": "neon"})  # before any run


def test_bad_workbook_fails_its_step_and_keeps_the_other_partition(instance, tmp_path, sample_workbook):
    good = partition_for(instance, sample_workbook)
    assert materialize(instance, tmp_path, good, sample_workbook, [RAW, DATASET, COUNTRIES]).success
    dupes = countries_workbook(tmp_path / "dupes.xlsx", [("CN", 5), ("CN", 3)])
    bad = partition_for(instance, dupes)
    result = materialize(instance, tmp_path, bad, dupes, [RAW, DATASET, COUNTRIES])
    assert not result.success
    message = result.get_step_failure_events()[0].step_failure_data.error.message
    assert "sheet 'Countries (family)': column 'Countries (family)' repeats 'CN' (rows 2, 3)" in message
    assert not (tmp_path / bad / "dataset" / "manifest.json").exists()
    assert COUNTRIES not in {m.asset_key for m in result.get_asset_materialization_events()}
    # the good partition is untouched
    records = instance.fetch_materializations(COUNTRIES, limit=10).records
    assert [r.partition_key for r in records] == [good]
    assert (tmp_path / good / "dataset" / "manifest.json").exists()


def test_failing_blocking_check_stops_the_charts(instance, tmp_path, sample_workbook, monkeypatch):
    """The reader already rejects what the checks look for; the checks are the net for other
    sources. To reach them, this test swaps in a reader that lets a negative count through
    (the one substitution in this file, because no real workbook can get past the reader)."""
    import intelli_assets.defs.datasets.assets as dataset_assets
    from intelli_assets.sources import read_source

    def lenient_reader(path, kind=None, title_language="en"):
        data = read_source(path, kind, title_language)
        data.facets.loc[0, "count"] = -1
        return data

    monkeypatch.setattr(dataset_assets, "read_source", lenient_reader)
    key = partition_for(instance, sample_workbook)
    result = materialize(instance, tmp_path, key, sample_workbook, [RAW, DATASET, COUNTRIES])
    assert not result.success
    failed = [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]
    assert failed == ["counts_are_non_negative_integers"]
    assert COUNTRIES not in {m.asset_key for m in result.get_asset_materialization_events()}
    assert not (tmp_path / key / "dataset" / "manifest.json").exists()


def test_raw_source_refuses_a_file_of_another_partition(instance, tmp_path, sample_workbook):
    key = partition_for(instance, sample_workbook)
    other = tmp_path / "other.xlsx"
    wb = Workbook()
    wb.save(other)
    result = materialize(instance, tmp_path, key, other, [RAW])
    assert not result.success
    assert "not this partition's" in result.get_step_failure_events()[0].step_failure_data.error.message


def test_rematerialize_raw_source_without_path_reuses_the_stored_copy(instance, tmp_path, sample_workbook):
    key = partition_for(instance, sample_workbook)
    assert materialize(instance, tmp_path, key, sample_workbook, [RAW]).success
    result = dg.materialize([raw_source], instance=instance, partition_key=key,
                            resources={"store": ArtifactStore(root=str(tmp_path)), "lens": LensApi()})
    meta = result.asset_materializations_for_node("raw_source")[0].metadata
    assert meta["sha256"].value == file_sha256(sample_workbook)


def test_a_failing_chart_is_reported_and_the_others_still_materialize(instance, tmp_path):
    only_countries = countries_workbook(tmp_path / "countries.xlsx", [("CN", 50), ("US", 20), ("EC", 4)])
    key = partition_for(instance, only_countries)
    treemap = dg.AssetKey(["charts", "cpc_treemap"])
    result = materialize(instance, tmp_path, key, only_countries, [RAW, DATASET, COUNTRIES, treemap])
    assert not result.success
    assert chart_metadata(result, COUNTRIES)["chart_data"].value["totals"]["total_publications"] == 74
    assert treemap not in {m.asset_key for m in result.get_asset_materialization_events()}
    (failure,) = result.get_step_failure_events()
    failed = failure.step_failure_data.user_failure_data.metadata["failed_charts"].value
    assert list(failed) == ["cpc_treemap"] and "CPC" in failed["cpc_treemap"]
    assert [r.partition_key for r in instance.fetch_materializations(COUNTRIES, limit=5).records] == [key]


def worker_processes() -> list[int]:
    import subprocess

    out = subprocess.run(["pgrep", "-f", "-P", str(os.getpid()), "intelli_assets.forecast_worker"],
                         capture_output=True, text=True).stdout
    return [int(p) for p in out.split()]


def test_the_forecast_chart_through_the_worker_matches_the_in_process_fit(instance, tmp_path, sample_workbook):
    from intelli_assets.charts import CHARTS
    from intelli_assets.dataset import load_dataset

    forecast = dg.AssetKey(["charts", "patent_forecast"])
    key = partition_for(instance, sample_workbook)
    result = materialize(instance, tmp_path, key, sample_workbook, [RAW, DATASET, forecast])
    assert result.success
    from_run = chart_metadata(result, forecast)["chart_data"].value
    assert not [p for p in worker_processes() if p]  # stopped with the run
    dataset = load_dataset(tmp_path / key / "dataset")
    params = CHARTS["patent_forecast"].validate_params({})
    in_process = CHARTS["patent_forecast"].run(dataset, params, Style()).chart_data
    assert from_run["forecast_arima"] == in_process["forecast_arima"] and from_run["forecast_arima"]
    assert from_run["forecast_ets"] == in_process["forecast_ets"] and from_run["models"] == in_process["models"]


def test_a_bug_in_one_chart_is_logged_and_costs_only_that_chart(instance, tmp_path, sample_workbook, monkeypatch):
    """A chart that raises something unexpected (simulated here: no real chart does) is
    reported with its traceback in the run log; the other charts are still materialized."""
    from dataclasses import replace

    from intelli_assets.charts import CHARTS

    def broken(dataset, params, style):
        raise KeyError("no such column")

    monkeypatch.setitem(CHARTS, "cpc_treemap", replace(CHARTS["cpc_treemap"], build=broken))
    key = partition_for(instance, sample_workbook)
    treemap = dg.AssetKey(["charts", "cpc_treemap"])
    result = materialize(instance, tmp_path, key, sample_workbook, [RAW, DATASET, COUNTRIES, treemap])
    assert not result.success
    assert [m.asset_key for m in result.get_asset_materialization_events()][-1:] == [COUNTRIES]
    failed = result.get_step_failure_events()[0].step_failure_data.user_failure_data.metadata["failed_charts"].value
    assert failed == {"cpc_treemap": "internal error (KeyError: 'no such column'); traceback in the run log"}
    logs = [r.user_message for r in instance.all_logs(result.run_id) if "unexpected error" in r.user_message]
    assert logs and "Traceback" in logs[0] and "no such column" in logs[0]
