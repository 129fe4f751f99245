"""Runs executed in an `intelli` process (not by the daemon) carry their owner's identity, so a
run whose process is gone (kill -9, OOM, power loss) can be told apart from one still working.

Nothing else would notice: Dagster's run monitoring checks only runs a run launcher started,
and a dead run left STARTED holds its pool slot (`charts_cpu`) and blocks queued launches
until `dagster/max_runtime` expires. `fail_orphaned_runs` is called whenever `intelli` opens
the instance, and by the `orphaned_runs` sensor while the daemon runs.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import dagster as dg

OWNER_HOST_TAG = "intelli/host"
OWNER_PROCESS_TAG = "intelli/process"  # "<boot id>/<pid>/<process start time>"
UNFINISHED = [dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING, dg.DagsterRunStatus.STARTED,
              dg.DagsterRunStatus.CANCELING]


def _boot_id() -> str:
    try:
        return Path("/proc/sys/kernel/random/boot_id").read_text().strip()[:8]
    except OSError:
        return "-"


def _start_time(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (None: no such process). With the
    pid alone a recycled pid would look alive."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return None
    except OSError:
        return "?"
    return stat.rsplit(")", 1)[1].split()[19]  # field 22; the name in parentheses may hold spaces


def process_identity(pid: int | None = None) -> str:
    pid = pid or os.getpid()
    return f"{_boot_id()}/{pid}/{_start_time(pid) or '?'}"


def owner_tags() -> dict[str, str]:
    """Tags for a run executed in this process."""
    return {OWNER_HOST_TAG: socket.gethostname(), OWNER_PROCESS_TAG: process_identity()}


def owner_is_gone(identity: str) -> bool:
    """True only when certain: another boot, no such pid, or the pid now belongs to another
    process. Without /proc (not Linux) nothing is ever declared gone."""
    boot, _, rest = identity.partition("/")
    pid, _, started = rest.partition("/")
    if not Path("/proc/self/stat").exists() or not pid.isdigit():
        return False
    if boot != _boot_id():
        return True
    now = _start_time(int(pid))
    return now is None or (now != "?" and started != "?" and now != started)


def fail_orphaned_runs(instance: dg.DagsterInstance) -> list[str]:
    """Mark unfinished runs of this host whose `intelli` process is gone as failed (cancelled
    if a cancel was under way), and free any pool slots they held. Returns their run ids."""
    runs = instance.get_runs(dg.RunsFilter(statuses=UNFINISHED, tags={OWNER_HOST_TAG: socket.gethostname()}))
    reaped = []
    for run in runs:
        identity = run.tags.get(OWNER_PROCESS_TAG, "")
        if not owner_is_gone(identity):
            continue
        pid = identity.split("/")[1] if identity.count("/") == 2 else "?"
        if run.status == dg.DagsterRunStatus.CANCELING:
            instance.report_run_canceled(run, f"The intelli process (pid {pid}) cancelling this run is gone; "
                                              "marked cancelled.")
        else:
            instance.report_run_failed(run, f"The intelli process (pid {pid}) running this run is gone (killed, "
                                            "out of memory or the machine stopped); marked failed. Charts it "
                                            "finished before that keep their materializations.")
        instance.event_log_storage.free_concurrency_slots_for_run(run.run_id)
        reaped.append(run.run_id)
    return reaped
