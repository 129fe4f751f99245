"""Exercise once what every run does, so processes forked afterwards start warm. No Dagster imports.

A run worker forked from a process that has only *imported* the charts still pays, on its first
chart, for what Python and Plotly load lazily: Plotly's validator table (~0.3 s), the layout
and trace modules each figure touches, pandas/pyarrow code paths, the Excel reader, the forecast
fits. `warm_chart_building` pays all of that in the warm process, on generated sample data.
"""

from __future__ import annotations

import logging
import shutil
import warnings
from pathlib import Path

import plotly.io as pio

from intelli_assets.charts import CHARTS
from intelli_assets.dataset import Dataset, load_dataset, load_records, save_dataset
from intelli_assets.errors import IntelliError
from intelli_assets.forecast_worker import Forecaster
from intelli_assets.rendering.browser import owned_tempdir
from intelli_assets.rendering.renderer import figure_html
from intelli_assets.sample_records import sample_families, write_results_list_csv
from intelli_assets.sample_workbook import write_sample_workbook
from intelli_assets.sources import read_source
from intelli_assets.style import Style

log = logging.getLogger(__name__)


def warm_chart_building() -> int:
    """Read a sample Filters workbook and a sample results list, store and load the dataset,
    build every chart of it and serialize it as the charts step does; the number built. A chart
    that fails here is only logged: this is a warm-up, not a check."""
    # named after this process: one killed mid-warm-up (a zygote replaced) is swept by the next
    tmp = owned_tempdir("intelli-warmup-")
    try:
        return _build_all(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _build_all(tmp: str) -> int:
    built = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        read_source(write_sample_workbook(Path(tmp, "warmup.xlsx")))
        data = read_source(write_results_list_csv(Path(tmp, "warmup.csv"), sample_families(60)))
        dataset = Dataset(data.facets, {"partition_key": "warmup", "source_type": data.kind}, data.records)
        stored = save_dataset(dataset, Path(tmp, "dataset"))  # and read back: the parquet paths a run takes
        dataset = Dataset(load_dataset(stored).facets, dataset.manifest, load_records(stored))
        forecaster = Forecaster()  # fits in this process: the forked runs fit in theirs
        for spec in CHARTS.values():
            try:
                chart = spec.run(dataset, {}, Style(), forecaster)
                pio.to_json(chart.figure, validate=False)
                figure_html(chart.figure)
                built += 1
            except (IntelliError, ValueError, KeyError) as exc:
                log.info("warm-up: chart %s not built (%s)", spec.key, exc)
    return built
