"""The daemon's side of run ownership: fail runs whose `intelli` process died."""

import dagster as dg

from intelli_assets.defs.runs.ownership import fail_orphaned_runs


@dg.sensor(minimum_interval_seconds=15, default_status=dg.DefaultSensorStatus.RUNNING)
def orphaned_runs(context: dg.SensorEvaluationContext) -> dg.SkipReason:
    """Marks runs failed whose `intelli run` process was killed (kill -9, out of memory, power
    loss) so they stop holding pool slots and blocking queued launches. It requests no runs."""
    reaped = fail_orphaned_runs(context.instance)
    if reaped:
        context.log.info(f"marked {len(reaped)} orphaned run(s) failed: {', '.join(reaped)}")
    return dg.SkipReason(f"{len(reaped)} orphaned run(s) marked failed" if reaped else "no orphaned runs")
