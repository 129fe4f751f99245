"""Shared fixtures: real workbooks (skipped without ../shared/data), generated ones, a warm renderer,
instance homes on SQLite or on a real PostgreSQL (see postgres.py)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from intelli_assets.dataset import Dataset, build_manifest
from intelli_assets.rendering import FigureRenderer
from intelli_assets.sample_workbook import write_sample_workbook
from intelli_assets.sources import FILTERS, read_source
from intelli_assets_tests.postgres import backend, backend_home, postgres_server

__all__ = ["backend", "backend_home", "postgres_server"]  # fixtures, shared by every test module

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
REAL_WORKBOOKS = ("Filters_20250331_1141", "Filters_20250522_1212")


def real_workbook(name: str) -> Path:
    path = SHARED_DATA / "espacenet" / f"{name}.xlsx"
    if not path.exists():
        pytest.skip(f"reference data not available: {path}")
    return path


def dataset_from(path: Path) -> Dataset:
    data = read_source(path, FILTERS)
    return Dataset(data.facets, build_manifest(data.facets, data, {"source_type": FILTERS}))


@pytest.fixture(scope="session")
def sample_workbook(tmp_path_factory) -> Path:
    return write_sample_workbook(tmp_path_factory.mktemp("sample") / "espacenet-sample.xlsx")


@pytest.fixture(scope="session")
def sample_dataset(sample_workbook) -> Dataset:
    return dataset_from(sample_workbook)


@pytest.fixture(scope="session")
def renderer():
    """One real Chromium for the whole session, as a run would use it."""
    with FigureRenderer() as r:
        yield r


@pytest.fixture
def dagster_home(tmp_path, monkeypatch) -> Path:
    """A fresh, persistent instance home (with the project's dagster.yaml) per test."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(PROJECT_ROOT / "intelli_assets" / "dagster.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    monkeypatch.delenv("INTELLI_ARTIFACTS_DIR", raising=False)
    return home
