"""Where inputs, datasets and chart files live on disk. No Dagster imports.

    <root>/<partition>/raw/<original file> + source.json     immutable copy of the input
    <root>/<partition>/dataset/facets.parquet + manifest.json
    <root>/<partition>/<chart>/<params-hash>/chart.png|svg|html, chart_data.json

A render with other params lands in another folder, so it never overwrites an earlier one.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from intelli_assets.errors import StorageError


def instance_home() -> Path:
    """$DAGSTER_HOME, or `.dagster_home` in the current folder (the project root in the README)."""
    return Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster_home").resolve()


def artifacts_root() -> Path:
    configured = os.environ.get("INTELLI_ARTIFACTS_DIR")
    return Path(configured).resolve() if configured else instance_home() / "artifacts"


MAX_NAME_BYTES = 120  # file systems allow 255; room is left for the prefixes and suffixes added here


def bounded_name(name: str) -> str:
    """`name`, or a shorter one that keeps its start, its suffix and a hash of the whole, so
    a very long input file name can still be stored (and two long names stay apart)."""
    if len(name.encode()) <= MAX_NAME_BYTES:
        return name
    stem, suffix = Path(name).stem, Path(name).suffix[:16]
    digest = hashlib.sha256(name.encode()).hexdigest()[:8]
    room = MAX_NAME_BYTES - len(suffix.encode()) - len(digest) - 1
    return f"{stem.encode()[:room].decode('utf-8', 'ignore')}-{digest}{suffix}"


def source_record(path: Path, sha256: str, source_type: str = "espacenet_excel") -> dict:
    """What is recorded of an input file when its exact bytes are kept."""
    return {
        "source_type": source_type,
        "original_name": path.name,
        "original_path": str(path),
        "size_bytes": path.stat().st_size,
        "sha256": sha256,
        "ingested_at": dt.datetime.now(dt.UTC).isoformat(),
    }


def params_hash(settings: dict) -> str:
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode()).hexdigest()[:12]


@contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, renamed onto it when the block succeeds: readers never
    see half a file. On any error (or an interrupt) the partial file is removed, and an OS
    error becomes a StorageError naming `path`."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}-{threading.get_ident()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield tmp
        tmp.replace(path)
    except BaseException as exc:
        try:
            tmp.unlink(missing_ok=True)
        except OSError:  # its folder could not even be made
            pass
        if isinstance(exc, OSError):
            raise StorageError(str(path), exc) from None
        raise


def write_atomic(path: Path, data: bytes | str) -> Path:
    """Write a whole file atomically (see `atomic_target`)."""
    with atomic_target(path) as tmp:
        tmp.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)
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
        """Copy the input once; the same partition key means the same bytes, so a later copy
        (under any name) keeps the first one and its record."""
        known = self.raw_info(partition)
        if known and known.get("sha256") == info.get("sha256") and Path(known["stored_path"]).is_file():
            return Path(known["stored_path"])
        target = self.raw_dir(partition) / bounded_name(source.name)
        if not target.exists():
            with atomic_target(target) as tmp:
                shutil.copyfile(source, tmp)
        write_atomic(self.raw_dir(partition) / "source.json", json.dumps({**info, "stored_path": str(target)}, indent=2))
        return target

    def raw_info(self, partition: str) -> dict | None:
        info = self.raw_dir(partition) / "source.json"
        return json.loads(info.read_text()) if info.exists() else None

    # A Lens query is fetched again on each materialization: every fetch keeps its own pages.
    def fetch_dir(self, partition: str, fetch_id: str) -> Path:
        return self.raw_dir(partition) / "fetches" / fetch_id

    def mark_fetch_complete(self, partition: str, fetch_id: str) -> None:
        write_atomic(self.raw_dir(partition) / "latest-fetch.json", json.dumps({"fetch_id": fetch_id}))

    def latest_fetch(self, partition: str) -> Path | None:
        """The folder of the newest complete fetch (an interrupted one is never read)."""
        pointer = self.raw_dir(partition) / "latest-fetch.json"
        if not pointer.exists():
            return None
        return self.fetch_dir(partition, json.loads(pointer.read_text())["fetch_id"])
