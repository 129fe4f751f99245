"""Everything in the code location loads, and the shape is what the UI and CLI rely on."""

from __future__ import annotations

import dagster as dg

from intelli_assets.charts import CHARTS
from intelli_assets.defs.charts.assets import chart_config_class
from intelli_assets.defs.jobs import MAIN_JOB_NAME


def test_definitions_load_every_asset_check_resource_and_job():
    from intelli_assets.definitions import defs

    defs.validate_loadable(defs)
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert keys == {"raw_source", "patent_dataset", *(f"charts/{k}" for k in CHARTS)}
    checks = {c.name for c in graph.asset_check_keys}
    assert checks == {"non_empty", "counts_are_non_negative_integers", "years_plausible", "no_duplicate_values"}
    assert set(defs.resources) >= {"store", "renderer"}
    job = defs.resolve_job_def(MAIN_JOB_NAME)
    assert job.executor_def is dg.in_process_executor
    assert len(job.asset_layer.selected_asset_keys) == 2 + len(CHARTS)


def test_chart_assets_carry_version_pool_and_partitions():
    from intelli_assets.definitions import defs

    for key, spec in CHARTS.items():
        asset = defs.resolve_assets_def(dg.AssetKey(["charts", key]))
        assert asset.code_versions_by_key[asset.key] == spec.version
        assert asset.partitions_def.name == "datasets"
        assert asset.op.pool == "charts_cpu"
        assert asset.descriptions_by_key[asset.key]


def test_chart_config_exposes_chart_params_with_defaults():
    config = chart_config_class(CHARTS["top_patent_countries"])()
    assert (config.top_n, config.highlight_country, config.formats) == (15, "EC", ["png", "svg", "html"])
    assert chart_config_class(CHARTS["top_patent_inventors"])().top_n == 10
    assert chart_config_class(CHARTS["patent_forecast"])().cutoff_year is None
