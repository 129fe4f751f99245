"""The inbox's batch job: several new datasets of one sensor tick drawn by one run worker.

Each dataset still gets its own `dataset_charts` run (tagged `intelli/batch` with this run's
id), executed in turn inside this run's process with this run's Chromium; see
`launch/batch.py`. This run fails if any of its datasets failed, naming them.
"""

import dagster as dg
from pydantic import Field

from intelli_assets.defs.charts.resources import ChartRenderer
from intelli_assets.defs.jobs import max_runtime
from intelli_assets.defs.runs.cancels import run_cancel_requested
from intelli_assets.launch.batch import CANCELLED, DRAWN_BEFORE, NOT_RUN, SUCCESS, BatchItem, execute_batch

BATCH_JOB_NAME = "inbox_batch"


class BatchDataset(dg.Config):
    partition: str = Field(description="the dataset's partition key (added by the inbox sensor)")
    path: str = Field(description="the source bytes kept in the artifact store at intake")
    job_id: str = Field(description="the job id its run is tagged with (intelli/job)")
    requested_by: str = Field(default="inbox", description="who dropped the file")
    source: str = Field(default="", description="the file name it was dropped as")
    charts: list[str] = Field(description="the charts to draw")


class InboxBatchConfig(dg.Config):
    datasets: list[BatchDataset] = Field(description="the datasets, drawn in this order")


# no pool of its own: each dataset's run holds a charts_cpu slot while it draws
@dg.op
def draw_datasets(context: dg.OpExecutionContext, config: InboxBatchConfig, renderer: ChartRenderer) -> None:
    """Draws each dataset of the batch in its own `dataset_charts` run, in turn, with this run's
    browser. A dataset's run that fails fails this run at the end, after the others; one
    cancelled by itself (`intelli cancel JOB`) does not. Terminating this run cancels the
    dataset being drawn and runs none of the rest."""
    items = [BatchItem(d.partition, d.path, d.job_id, d.requested_by, d.source, tuple(d.charts))
             for d in config.datasets]

    def stop_requested() -> bool:  # terminated, or failed from outside (e.g. over its time limit)
        run = context.instance.get_run_by_id(context.run_id)
        return run is not None and (run.status != dg.DagsterRunStatus.STARTED or run_cancel_requested(context.instance, run))

    outcomes = execute_batch(context.instance, items, context.run_id, renderer.engine_renderer,
                             stop_requested, context.log.info)
    not_run = [o.item for o in outcomes if o.status == NOT_RUN]
    if not_run or stop_requested():  # terminated: say which datasets have no charts, then end as cancelled
        context.log.warning(f"terminated: {len(not_run)} of {len(outcomes)} datasets not drawn (re-execute this run "
                            "to draw them; those drawn already are skipped): "
                            + ", ".join(f"{item.partition} ({item.source})" for item in not_run))
        raise dg.DagsterExecutionInterruptedError("the batch run was terminated")
    unfinished = [o for o in outcomes if o.status not in (SUCCESS, DRAWN_BEFORE, CANCELLED)]
    if unfinished:
        raise dg.Failure(
            description=f"{len(unfinished)} of {len(outcomes)} datasets not drawn in full:\n"
                        + "\n".join(o.line() for o in unfinished),
            metadata={"datasets": dg.MetadataValue.json([{"partition": o.item.partition, "status": o.status,
                                                          "job": o.item.job_id, "run": o.run_id}
                                                         for o in outcomes])},
        )


def batch_runtime_tag(datasets: int) -> dict[str, str]:
    """The batch's time limit: each dataset's own (ingestion + charts) in turn."""
    return {"dagster/max_runtime": str(datasets * (max_runtime("ingestion") + max_runtime("charts")))}


@dg.job(name=BATCH_JOB_NAME, executor_def=dg.in_process_executor,
        description="Draw several new inbox datasets in one run worker: one dataset_charts run each.")
def inbox_batch_job() -> None:
    draw_datasets()
