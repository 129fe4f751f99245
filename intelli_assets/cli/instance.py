"""Opening the Dagster instance the CLI works on: $DAGSTER_HOME, its dagster.yaml, pool limits."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import dagster as dg

from intelli_assets.artifacts import instance_home

INSTANCE_TEMPLATE = Path(__file__).resolve().parent.parent / "dagster.yaml"
# the old backend's Celery queue sizes
POOL_LIMITS = {"ingestion_io": 4, "charts_cpu": 2, "ai": 2}


def prepare_home() -> Path:
    """Make $DAGSTER_HOME exist (default ./.dagster_home) with our dagster.yaml in it."""
    home = instance_home()
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    if not (home / "dagster.yaml").exists():
        shutil.copyfile(INSTANCE_TEMPLATE, home / "dagster.yaml")
    return home


def ensure_pool_limits(instance: dg.DagsterInstance) -> list[str]:
    """Per-pool limits live in the instance's storage, not dagster.yaml: set missing ones
    (limits an operator changed are kept). Returns the pools it set."""
    storage = instance.event_log_storage
    existing = storage.get_concurrency_keys()
    missing = [pool for pool in POOL_LIMITS if pool not in existing]
    for pool in missing:
        storage.set_concurrency_slots(pool, POOL_LIMITS[pool])
    return missing


def open_instance() -> dg.DagsterInstance:
    prepare_home()
    instance = dg.DagsterInstance.get()
    ensure_pool_limits(instance)
    return instance
