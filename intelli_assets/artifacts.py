"""Where inputs, datasets and chart files live on disk. No Dagster imports.

    <root>/<partition>/raw/<original file> + source.json     immutable copy of the input
    <root>/<partition>/dataset/facets.parquet + manifest.json
    <root>/<partition>/<chart>/<params-hash>/chart.png|svg|html, chart_data.json

A render with other params lands in another folder, so it never overwrites an earlier one.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path


def instance_home() -> Path:
    """$DAGSTER_HOME, or `.dagster_home` in the current folder (the project root in the README)."""
    return Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home").resolve()


def artifacts_root() -> Path:
    configured = os.environ.get("INTELLI_ARTIFACTS_DIR")
    return Path(configured).resolve() if configured else instance_home() / "artifacts"


def params_hash(settings: dict) -> str:
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Readers never see half a file: write beside it, then rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
    tmp.replace(path)
    return path


class ArtifactLayout:
    def __init__(self, root: Path):
        self.root = Path(root)

    def raw_dir(self, partition: str) -> Path:
        return self.root / partition / "raw"

    def dataset_dir(self, partition: str) -> Path:
        return self.root / partition / "dataset"

    def chart_dir(self, partition: str, chart: str, settings_hash: str) -> Path:
        return self.root / partition / chart / settings_hash  # chart keys never clash with raw/dataset

    def store_raw(self, partition: str, source: Path, info: dict) -> Path:
        """Copy the input once; the same partition key means the same bytes, so never rewrite it."""
        target = self.raw_dir(partition) / source.name
        if not target.exists():
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.tmp-{os.getpid()}")
            shutil.copyfile(source, tmp)
            tmp.replace(target)
        write_atomic(self.raw_dir(partition) / "source.json", json.dumps({**info, "stored_path": str(target)}, indent=2))
        return target

    def raw_info(self, partition: str) -> dict | None:
        info = self.raw_dir(partition) / "source.json"
        return json.loads(info.read_text()) if info.exists() else None
