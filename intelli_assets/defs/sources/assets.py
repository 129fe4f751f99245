"""raw_source: the immutable copy of each input (and, for a Lens query, every page fetched)."""

import datetime as dt
import json
import time
from pathlib import Path

import dagster as dg
from pydantic import Field

from intelli_assets.artifacts import ArtifactLayout, source_record, write_atomic
from intelli_assets.dataset import file_sha256, key_matches_content, partition_key_for
from intelli_assets.defs.common.partitions import datasets_partitions
from intelli_assets.defs.common.resources import ArtifactStore
from intelli_assets.defs.common.retries import NETWORK_RETRY_POLICY
from intelli_assets.defs.runs.cancels import run_cancel_requested
from intelli_assets.defs.sources.resources import LensApi
from intelli_assets.errors import IntelliError
from intelli_assets.lens import LensError, LensPage, read_lens_query
from intelli_assets.sources import LENS_QUERY, source_display_name, source_kind

PROGRESS_EVERY_SECONDS = 1.0  # progress observations are event-log writes: at most one a second


class FetchCancelled(Exception):
    """The run was cancelled (Ctrl-C, SIGTERM, `intelli cancel`, the UI) while pages came in."""


class RawSourceConfig(dg.Config):
    path: str = Field(
        default="",
        description="Espacenet export (.xlsx/.csv) or Lens query file (NAME.lens.json) to ingest for this "
        "partition. Leave empty to re-record the stored copy (a Lens query is then fetched again).",
    )


@dg.asset(
    partitions_def=datasets_partitions,
    group_name="sources",
    kinds={"excel", "csv", "json"},
    pool="ingestion_io",
    retry_policy=NETWORK_RETRY_POLICY,  # a Lens fetch; bad files fail at once (allow_retries=False)
)
def raw_source(
    context: dg.AssetExecutionContext, config: RawSourceConfig, store: ArtifactStore, lens: LensApi
) -> dg.MaterializeResult:
    """Exact copy of the input in the artifact store, with its kind, size, sha256 and name.

    The partition key is a slug of the source's name plus the first 10 hex digits of its
    sha256, so the same bytes always map to the same partition and any later dataset can be
    re-derived even after the original file is gone. For a Lens query file, every response
    page is stored as it arrives in a folder of its own per fetch: fetching again is a new
    materialization that keeps the earlier pages, and a fetch that fails half-way keeps what came.
    """
    key = context.partition_key
    layout = store.layout
    try:
        if config.path:
            info, stored = _store_input(Path(config.path).expanduser().resolve(), key, layout)
        else:
            info = layout.raw_info(key)
            if info is None:
                raise dg.Failure(description=f"partition {key!r} has no stored input yet; set config 'path' to the file",
                                 allow_retries=False)
            stored = Path(info["stored_path"])
        metadata = {
            "source_type": info["source_type"],
            "original_name": info["original_name"],
            "size_bytes": dg.MetadataValue.int(info["size_bytes"]),
            "sha256": info["sha256"],
            "stored_path": dg.MetadataValue.path(str(stored)),
        }
        if info["source_type"] == LENS_QUERY:
            metadata.update(_fetch_lens(context, layout, key, stored, lens))
    except IntelliError as exc:  # a bad file, a read-only or full store, a failed fetch: say which and why
        raise dg.Failure(description=str(exc), allow_retries=exc.transient) from None
    return dg.MaterializeResult(metadata=metadata)


def _store_input(source: Path, key: str, layout: ArtifactLayout) -> tuple[dict, Path]:
    if not source.is_file():
        raise dg.Failure(description=f"{source}: file does not exist", allow_retries=False)
    kind = source_kind(source)
    sha = file_sha256(source)
    if not key_matches_content(key, sha):
        raise dg.Failure(
            description=f"{source} has content key {partition_key_for(source_display_name(source, kind), sha)!r}, "
            f"not this partition's {key!r}; add a partition for it (intelli run does) instead of overwriting "
            "another dataset", allow_retries=False
        )
    info = source_record(source, sha, kind)
    return info, layout.store_raw(key, source, info)


def _fetch_lens(context: dg.AssetExecutionContext, layout: ArtifactLayout, key: str, query_file: Path,
                lens: LensApi) -> dict:
    """Fetch every page of the query into a new fetch folder; the dataset reads the newest
    complete one."""
    query = read_lens_query(query_file)
    fetch_id = f"{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S}Z-{context.run.run_id[:8]}"
    folder = layout.fetch_dir(key, fetch_id)
    kept: list[int] = []
    last_report = [0.0]

    def stop_if_cancelled() -> None:
        if run_cancel_requested(context.instance, context.instance.get_run_by_id(context.run.run_id)):
            raise FetchCancelled

    def on_page(page: LensPage) -> None:
        write_atomic(folder / f"page-{page.number:05d}.json", page.body)
        kept.append(page.number)
        stop_if_cancelled()  # a cancel takes effect at the next page...

    def sleep(seconds: float) -> None:  # ...or within half a second of a rate-limit or retry wait
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            stop_if_cancelled()
            time.sleep(min(0.5, left))

    def progress(line: str) -> None:
        context.log.info(line)
        now = time.monotonic()
        routine = line.startswith("lens: page")  # waits, retries and stops are always shown
        if not routine or now - last_report[0] >= PROGRESS_EVERY_SECONDS:
            last_report[0] = now
            context.log_event(dg.AssetObservation(asset_key="raw_source", partition=key,
                                                  metadata={"event": "fetching", "progress": line}))

    started = time.perf_counter()
    try:
        stop_if_cancelled()  # cancelled while the run started: no request at all
        with lens.client(sleep=sleep) as client:
            fetched = client.fetch(query, on_page, progress)
    except LensError as exc:
        write_atomic(folder / "fetch.json", json.dumps({"status": "failed", "error": str(exc), "pages": len(kept)}))
        where = f"; the {len(kept)} page(s) that came are kept in {folder}" if kept else ""
        error = IntelliError(f"Lens query {query.name!r}: {exc}{where}")
        error.transient = exc.transient
        raise error from None
    except FetchCancelled:
        write_atomic(folder / "fetch.json", json.dumps({"status": "cancelled", "pages": len(kept)}))
        # a Failure, not an interrupt, which the step's RetryPolicy would retry; the run ends CANCELED
        raise dg.Failure(description=f"the run was cancelled during the Lens fetch; the {len(kept)} page(s) that "
                         f"came are kept in {folder}", allow_retries=False) from None
    if fetched.records == 0:  # an empty fetch never becomes the dataset's source
        write_atomic(folder / "fetch.json", json.dumps({"status": "empty", "pages": fetched.pages}))
        raise IntelliError(f"Lens query {query.name!r} ({query_file.name}) matched no patents on Lens.org: "
                           "nothing to chart; widen the query")
    summary = {"status": "complete", "pages": fetched.pages, "records": fetched.records, "total": fetched.total,
               "capped": fetched.capped, "restarts": fetched.restarts, "retries": fetched.retries,
               "seconds": round(time.perf_counter() - started, 2)}
    write_atomic(folder / "fetch.json", json.dumps(summary, indent=2))
    layout.mark_fetch_complete(key, fetch_id)
    context.log.info(f"lens: {fetched.records} records in {fetched.pages} pages, kept in {folder}")
    return {
        "lens_pages": dg.MetadataValue.int(fetched.pages),
        "lens_records": dg.MetadataValue.int(fetched.records),
        "lens_total": dg.MetadataValue.int(fetched.total or 0),
        "lens_capped_at_max_records": fetched.capped,
        "lens_retries": dg.MetadataValue.int(fetched.retries),
        "lens_scroll_restarts": dg.MetadataValue.int(fetched.restarts),
        "fetch_id": fetch_id,
        "fetch_path": dg.MetadataValue.path(str(folder)),
        "query": dg.MetadataValue.json({"name": query.name, "query": query.query, "max_records": query.max_records}),
    }
