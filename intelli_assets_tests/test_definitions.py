"""Everything in the code location loads, and the shape is what the UI and CLI rely on."""

from __future__ import annotations

import dagster as dg

from intelli_assets.charts import CHARTS
from intelli_assets.defs.charts.assets import ChartsConfig, validated_settings
from intelli_assets.defs.jobs import MAIN_JOB_NAME


def test_definitions_load_every_asset_check_resource_and_job():
    from intelli_assets.definitions import defs

    defs.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"raw_source", "patent_dataset", *(f"charts/{k}" for k in CHARTS),
                    *(f"descriptions/{k}" for k in CHARTS), "reports/landscape"}
    checks = {c.name for c in graph.asset_check_keys}
    assert checks == {"non_empty", "counts_are_non_negative_integers", "years_plausible", "no_duplicate_values",
                      "no_duplicate_publication_numbers", "dates_plausible"}
    assert set(defs.resources) >= {"store", "renderer", "forecasts", "lens", "openai"}
    job = defs.resolve_job_def(MAIN_JOB_NAME)
    assert job.executor_def is dg.in_process_executor
    assert len(job.asset_layer.selected_asset_keys) == 2 + len(CHARTS)


def test_chart_assets_carry_version_pool_and_partitions():
    from intelli_assets.definitions import defs

    for key, spec in CHARTS.items():
        asset_key = dg.AssetKey(["charts", key])
        asset = defs.resolve_assets_def(asset_key)
        assert asset.code_versions_by_key[asset_key] == spec.version
        assert asset.partitions_def.name == "datasets"
        assert asset.op.pool == "charts_cpu"
        assert spec.key in asset.descriptions_by_key[asset_key]


def test_charts_config_has_shared_style_and_a_section_per_chart_with_its_defaults():
    config = ChartsConfig()
    assert (config.highlight_country, config.formats) == ("EC", ["png", "svg", "html"])
    assert (config.top_patent_countries.top_n, config.top_patent_inventors.top_n) == (15, 10)
    assert config.patent_forecast.cutoff_year is None and config.patent_forecast.horizon == 6


def test_a_chart_section_overrides_title_and_height_for_that_chart_only():
    config = ChartsConfig(title="auto", height=700, cpc_treemap={"title": "CPC map", "height": 1100})
    _, treemap_style, _ = validated_settings(CHARTS["cpc_treemap"], config)
    _, bars_style, _ = validated_settings(CHARTS["top_patent_countries"], config)
    assert (treemap_style.title, treemap_style.height) == ("CPC map", 1100)
    assert (bars_style.title, bars_style.height) == ("auto", 700)


def test_charts_are_one_subsettable_step():
    from intelli_assets.definitions import defs

    asset = defs.resolve_assets_def(dg.AssetKey(["charts", "cpc_treemap"]))
    assert asset.can_subset and asset.node_def.name == "charts"
    assert asset.keys == {dg.AssetKey(["charts", k]) for k in CHARTS}
    assert set(asset.required_resource_keys) >= {"renderer", "store", "forecasts"}


def test_the_forecast_worker_starts_only_for_runs_that_draw_the_forecast():
    from intelli_assets.defs.charts.resources import run_fits_models

    def run(keys):
        selection = None if keys is None else frozenset(dg.AssetKey(["charts", k]) for k in keys)
        return dg.DagsterRun(job_name="dataset_charts", asset_selection=selection)

    assert run_fits_models(run(["patent_forecast", "cpc_treemap"]))
    assert not run_fits_models(run(["cpc_treemap", "top_patent_countries"]))
    assert run_fits_models(run(None))  # the whole job
