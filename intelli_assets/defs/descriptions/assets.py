"""descriptions/<key>: an AI description of the latest render of each chart, opt-in.

Not in the main job (so `intelli run` and the inbox never call a model): materialize one from
the UI (Launchpad: user_context, language, models) or with `intelli describe`. Each declares
its chart as a dependency, so lineage shows, and takes a slot of the `ai` pool.
"""

import datetime as dt
import hashlib
import json
from pathlib import Path

import dagster as dg
from pydantic import Field

from intelli_assets.charts import CHARTS, ChartSpec
from intelli_assets.defs.common.partitions import datasets_partitions
from intelli_assets.defs.common.retries import NETWORK_RETRY_POLICY
from intelli_assets.defs.descriptions.resources import OpenAIEndpoint
from intelli_assets.defs.runs.cancels import run_cancel_requested
from intelli_assets.defs.runs.status import step_failures
from intelli_assets.description_files import RenderUnavailable, description_markdown, store_description
from intelli_assets.descriptions import (
    DEFAULT_FALLBACK_MODELS,
    DEFAULT_MODEL,
    ChartRender,
    DescriptionCancelled,
    DescriptionError,
    DescriptionRequest,
    describe,
)
from intelli_assets.errors import IntelliError
from intelli_assets.style import Language

DESCRIPTION_VERSION = "1"
GROUP = "descriptions"
MAX_WORDS_RANGE = (20, 1000)
WARNING_EVENTS = {"MODEL_FAILED", "FALLBACK"}


class DescriptionConfig(dg.Config):
    """What to ask the model (the endpoint itself is the `openai` resource)."""

    user_context: str = Field(default="", description="what the analyst wants to know, e.g. 'focus on Ecuador'")
    language: Language = Field(default=Language.es, description="language of the description: es or en",
                               validate_default=True)
    model: str = Field(default=DEFAULT_MODEL, description="the model asked first")
    fallback_models: list[str] = Field(default=list(DEFAULT_FALLBACK_MODELS),
                                       description="asked in order when the model before fails")
    max_words: int = Field(default=150, description=f"length limit, in words ({MAX_WORDS_RANGE[0]}-{MAX_WORDS_RANGE[1]})")
    text_only_fallback: bool = Field(default=False, description="when a model refuses image input, ask it again "
                                     "with the chart's data alone (recorded as mode: text_only)")


def description_key(chart: str) -> dg.AssetKey:
    return dg.AssetKey([GROUP, chart])


def description_request(render: ChartRender, config: DescriptionConfig) -> DescriptionRequest:
    """The request a config asks for; IntelliError on a value the schema cannot reject itself."""
    models = tuple(dict.fromkeys(m.strip() for m in [config.model, *config.fallback_models] if m.strip()))
    if not models:
        raise IntelliError("no model to ask: set `model` (and optionally `fallback_models`)")
    low, high = MAX_WORDS_RANGE
    if not low <= config.max_words <= high:
        raise IntelliError(f"max_words must be between {low} and {high}, got {config.max_words}")
    return DescriptionRequest(render, config.user_context, Language(config.language).value, models,
                              config.max_words, config.text_only_fallback)


def _value(metadata: dict, name: str, default: object = None) -> object:
    entry = metadata.get(name)
    return default if entry is None else getattr(entry, "value", entry)


def latest_render(instance: dg.DagsterInstance, partition: str, chart: str) -> ChartRender | None:
    """The newest materialization of charts/<chart> for the partition, or None."""
    records = instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=dg.AssetKey(["charts", chart]), asset_partitions=[partition]), limit=1).records
    if not records:
        return None
    record = records[0]
    metadata = record.asset_materialization.metadata
    # `files` (with sha256) since the audit trail exists; only `<format>_path` entries before
    files = dict(_value(metadata, "files", None) or {
        name[:-5]: {"path": str(entry.value)} for name, entry in metadata.items() if name.endswith("_path")})
    paths = [info["path"] for info in files.values() if info.get("path")]
    if not paths:
        raise RenderUnavailable(f"charts/{chart} of partition {partition} (run {record.run_id}) records no files; "
                                "re-render the chart")
    return ChartRender(
        partition=partition, chart=chart, params_hash=str(_value(metadata, "params_hash", Path(paths[0]).parent.name)),
        folder=Path(paths[0]).parent, run_id=record.run_id, rendered_at=record.timestamp,
        chart_data=dict(_value(metadata, "chart_data", {})), files=files, settings=dict(_value(metadata, "params", {})))


def last_render_failure(instance: dg.DagsterInstance, partition: str, chart: str) -> str | None:
    """Why the latest attempt to render charts/<chart> for the partition failed, or None: a
    chart with no render may have been tried, and "render it first" would fail again."""
    planned = instance.get_latest_planned_materialization_info(dg.AssetKey(["charts", chart]), partition=partition)
    run = instance.get_run_by_id(planned.run_id) if planned else None
    if run is None or not run.is_finished:
        return None
    failures = step_failures(instance, run.run_id)
    reason = failures.get(f"charts/{chart}") or failures.get("charts")
    return f"charts/{chart}'s last render failed (run {run.run_id}): {reason.rstrip('.')}" if reason else None


def _metadata_value(value: object) -> object:
    return dg.MetadataValue.json(value) if isinstance(value, dict | list) else value


def describe_latest_render(context: dg.AssetExecutionContext, chart: str, config: DescriptionConfig,
                           openai: OpenAIEndpoint) -> dg.MaterializeResult:
    """The body of every descriptions/<chart> asset: checks, the model calls, the stored result."""
    partition, key = context.partition_key, description_key(chart)
    try:
        endpoint = openai.endpoint()  # fails fast, naming the variable to set
        render = latest_render(context.instance, partition, chart)
        if render is None:
            raise IntelliError(last_render_failure(context.instance, partition, chart) or
                               f"charts/{chart} has not been rendered for partition {partition}: render it first "
                               f"(intelli run FILE --charts {chart}, or Materialize charts/{chart})")
        request = description_request(render, config)
        png = render.read_png(optional=config.text_only_fallback)
    except IntelliError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    context.log.info(f"describing charts/{chart} render {render.params_hash} (run {render.run_id}) with "
                     f"{', '.join(request.models)} at {endpoint.host}")

    def on_event(name: str, fields: dict) -> None:
        line = f"{name} {json.dumps(fields, ensure_ascii=False)}"
        (context.log.warning if name in WARNING_EVENTS else context.log.info)(line)
        context.log_event(dg.AssetObservation(asset_key=key, partition=partition, metadata={
            "event": name, **{k: _metadata_value(v) for k, v in fields.items() if v is not None}}))

    def cancelled() -> bool:
        return run_cancel_requested(context.instance, context.instance.get_run_by_id(context.run.run_id))

    try:
        description = describe(endpoint, request, png, on_event, cancelled)
    except DescriptionError as exc:
        if isinstance(exc, DescriptionCancelled) or cancelled():
            # a Failure, not an interrupt: the step's RetryPolicy would retry an interrupt; the
            # run, being cancelled, still ends CANCELED
            context.log.warning(str(exc))
            raise dg.Failure(description=f"the run was cancelled: {exc}", allow_retries=False) from None
        raise dg.Failure(description=str(exc), allow_retries=exc.transient, metadata={"provider_host": endpoint.host,
                                                         "models": dg.MetadataValue.json(list(request.models)),
                                                         "render": dg.MetadataValue.json(render.identity())}) from None
    created = dt.datetime.now(dt.UTC)
    markdown = description_markdown(description, request, endpoint, context.run.run_id, created)
    try:
        newest, dated = store_description(render.folder, markdown, context.run.run_id, created)
    except IntelliError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None
    file_info = {"path": str(dated), "sha256": hashlib.sha256(markdown.encode()).hexdigest(),
                 "bytes": len(markdown.encode())}
    usage = description.usage
    return dg.MaterializeResult(asset_key=key, metadata={
        "text": dg.MetadataValue.md(description.text),
        "model": description.model,
        "model_reported": description.model_reported,
        "provider_host": endpoint.host,
        "base_url": endpoint.safe_url,
        "mode": description.mode,  # image, or text_only when the endpoint refused the image
        "language": request.language,
        "user_context": request.user_context,
        "usage": dg.MetadataValue.json(usage),
        **{name: usage[name] for name in ("prompt_tokens", "completion_tokens", "total_tokens")
           if isinstance(usage.get(name), int)},
        "latency_ms": description.latency_ms,
        "total_ms": description.total_ms,
        "attempts": description.attempts,
        "finish_reason": description.finish_reason or "",
        "truncated": description.truncated,  # the answer was cut to its cap (see cap_text)
        **({"original_chars": description.original_chars} if description.truncated else {}),
        "render": dg.MetadataValue.json(render.identity()),
        "render_params_hash": render.params_hash,
        "chart_run_id": render.run_id,
        "description_path": dg.MetadataValue.path(str(newest)),
        "history_path": dg.MetadataValue.path(str(dated)),
        "files": dg.MetadataValue.json({"description": file_info}),
        "prompt_snapshot": dg.MetadataValue.json(description.snapshot),
        "events": dg.MetadataValue.json(description.events),
    })


def description_asset(spec: ChartSpec) -> dg.AssetsDefinition:
    @dg.asset(
        key=description_key(spec.key),
        deps=[dg.AssetKey(["charts", spec.key])],
        partitions_def=datasets_partitions,
        group_name=GROUP,
        kinds={"openai"},
        pool="ai",
        retry_policy=NETWORK_RETRY_POLICY,  # the endpoint's outage or rate limit; bad settings fail at once
        code_version=DESCRIPTION_VERSION,
        description=f"AI description of the latest render of charts/{spec.key}: its PNG, chart_data, title and "
                    "axes and the analyst's context, sent to an OpenAI-compatible endpoint ($OPENAI_BASE_URL, "
                    "$OPENAI_API_KEY); writes description.md beside the render.",
    )
    def description(context: dg.AssetExecutionContext, config: DescriptionConfig,
                    openai: OpenAIEndpoint) -> dg.MaterializeResult:
        """Describes the latest render of the chart (its PNG checked against the recorded sha256)
        and stores the text, model, usage and prompt snapshot with the materialization and as
        description.md (+ a dated copy) in the render's folder."""
        return describe_latest_render(context, spec.key, config, openai)

    return description


description_assets = [description_asset(spec) for spec in CHARTS.values()]
