"""`intelli doctor`: is this deployment able to work? Storage, Chromium, the daemon's heartbeat
and the webserver, each checked for real (open, render, read, ask), each failure named."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

HEARTBEAT_STALE_SECONDS = 120  # the daemon beats every ~30 s; this is several missed beats
REQUIRED_DAEMONS = ("SENSOR", "QUEUED_RUN_COORDINATOR", "MONITORING")


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True  # a failed optional check is a warning, not an error

    def to_dict(self) -> dict:
        return {"name": self.name, "ok": self.ok, "required": self.required, "detail": self.detail}


def _attempt(name: str, probe: Callable[[], str], required: bool = True) -> Check:
    try:
        return Check(name, True, probe(), required)
    except Exception as exc:  # noqa: BLE001 - the doctor reports every failure, whatever its kind
        return Check(name, False, f"{exc.__class__.__name__}: {exc}".replace("\n", " ")[:500], required)


def check_storage() -> str:
    from intelli_assets.artifacts import artifacts_root, instance_home
    from intelli_assets.launch.instance import open_instance

    instance = open_instance()
    storage = type(instance.run_storage).__name__
    # built on first use: a bad run_launcher or run_coordinator section would otherwise only
    # show as every run failing "from outside the execution context"
    launcher, coordinator = type(instance.run_launcher).__name__, type(instance.run_coordinator).__name__
    runs = len(instance.get_run_ids(limit=1000))
    root = artifacts_root()
    root.mkdir(parents=True, exist_ok=True)
    probe = root / f".doctor-{time.time_ns()}"
    probe.write_text("ok")  # a read-only or full artifact store fails here, not in a chart
    probe.unlink()
    return f"{storage} of $DAGSTER_HOME={instance_home()} opens ({runs}{'+' if runs == 1000 else ''} runs); " \
           f"runs queue in {coordinator}, start with {launcher}; artifacts writable in {root}"


def check_batches() -> str:
    """Inbox batch runs at work at once are bounded (a run tag limit in dagster.yaml): a home made
    before that limit, or a limit below the batch runs a look may request, is worth a warning."""
    from intelli_assets.defs.runs.tags import BATCH_SIZE_TAG
    from intelli_assets.inbox import inbox_batch_runs
    from intelli_assets.launch.instance import open_instance

    queue = open_instance().get_concurrency_config().run_queue_config
    limits = [rule["limit"] for rule in (queue.tag_concurrency_limits if queue else None) or []
              if rule.get("key") == BATCH_SIZE_TAG and "value" not in rule]
    runs = inbox_batch_runs(None)
    if runs == 0:
        return "inbox batches off ($INTELLI_INBOX_BATCH_RUNS=0): a run per dataset"
    if not limits:
        raise RuntimeError(f"no run limit on the tag {BATCH_SIZE_TAG}: every inbox batch run requested works at "
                           "once, sharing the cores (add concurrency.runs.tag_concurrency_limits to "
                           "$DAGSTER_HOME/dagster.yaml as in intelli_assets/dagster.yaml)")
    if runs > limits[0]:
        raise RuntimeError(f"$INTELLI_INBOX_BATCH_RUNS={runs} batch runs a look, but {limits[0]} at work at once "
                           f"(the {BATCH_SIZE_TAG} limit in dagster.yaml): the others wait for a free one")
    return f"at most {limits[0]} inbox batch runs at work at once; a look requests up to {runs}"


def check_inbox() -> str:
    """The inbox's quiet rule: its setting, and whether the folder keeps this machine's time (if
    not, every file waits for the sensor's second look); and any file taken that no run came of."""
    from intelli_assets.artifacts import artifacts_root
    from intelli_assets.taken_records import set_aside, taken_dir

    records = taken_dir(artifacts_root())
    given_up, unreadable = set_aside(records)
    if not given_up and not unreadable:
        return _inbox_quiet_rule()
    try:
        detail = _inbox_quiet_rule()
    except Exception as exc:  # noqa: BLE001 - said beside the records, not instead of them
        detail = str(exc)
    if given_up:
        detail += (f"; {_count(len(given_up), 'file')} taken that no run came of (the daemon's log says why; draw "
                   f"each with `intelli run PATH`, then remove its record in {records}): "
                   + "; ".join(given_up[:3]) + ("; …" if len(given_up) > 3 else ""))
    if unreadable:
        detail += f"; {_count(len(unreadable), 'record')} of taken files that could not be read: {unreadable[0]}" + \
            (" …" if len(unreadable) > 1 else "")
    raise RuntimeError(detail)


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


def _inbox_quiet_rule() -> str:
    from intelli_assets.inbox import folder_time_margin_ns, inbox_folder, inbox_quiet_seconds

    quiet, folder = inbox_quiet_seconds(None), inbox_folder()
    if quiet == 0:
        return f"inbox {folder}: every file waits for a second look ($INTELLI_INBOX_QUIET_SECONDS=0)"
    if not folder.is_dir():
        return f"inbox {folder}: not there yet (the sensor makes it)"
    margin_ns = folder_time_margin_ns(folder)
    if margin_ns is None:
        raise RuntimeError(f"inbox {folder}: its file system keeps another time than this machine (or a probe file "
                           "cannot be written there), so every file waits for a second look, ~3 s longer")
    seconds = round(quiet + margin_ns / 1e9, 1)  # the lag of the file system's clock: often a few ms
    return f"inbox {folder}: a valid file untouched for {seconds:g} s is taken at the first look"


def check_chromium() -> str:
    import plotly.graph_objects as go

    from intelli_assets.rendering import FigureRenderer
    from intelli_assets.rendering.browser import find_chromium

    started = time.perf_counter()
    with FigureRenderer() as renderer:
        png = renderer.render(go.Figure(go.Bar(x=["a"], y=[1])), ["png"])["png"]
    if not png.startswith(b"\x89PNG"):
        raise RuntimeError("Chromium answered, but not with a PNG")
    return f"{find_chromium()} drew a chart in {time.perf_counter() - started:.1f} s (start included)"


def _beats_from_instance() -> dict[str, float]:
    from intelli_assets.launch.instance import open_instance

    return {kind: beat.timestamp for kind, beat in open_instance().get_daemon_heartbeats().items()}


def check_daemon(beats: dict[str, float]) -> str:
    if not beats:
        raise RuntimeError("no dagster-daemon has ever run on this instance: sensors, the run queue and run "
                           "monitoring are off (start `intelli ui` or `dagster-daemon run`)")
    now = time.time()
    stale = {kind: now - beats[kind] for kind in REQUIRED_DAEMONS if now - beats.get(kind, 0) > HEARTBEAT_STALE_SECONDS}
    if stale:
        raise RuntimeError("the daemon is not running: last heartbeat of " + ", ".join(
            f"{kind} {age:.0f} s ago" if age < now - 1 else f"{kind} never" for kind, age in stale.items()))
    return f"heartbeats fresh ({', '.join(f'{k} {now - beats[k]:.0f} s ago' for k in REQUIRED_DAEMONS)})"


def check_webserver(url: str) -> tuple[str, dict[str, float]]:
    """(detail, daemon heartbeats as the webserver sees them)."""
    import httpx

    from intelli_assets.client import IntelliClient
    from intelli_assets.client import documents as doc

    with IntelliClient(url) as client:  # its URL rules: no scheme, a trailing /graphql, credentials
        info = httpx.get(f"{client.url}/server_info", timeout=10)
        info.raise_for_status()
        repository = client.repository()
        data = client.query(doc.DAEMON_HEALTH)
        client.query(doc.RUNS, {"filter": {}, "limit": 1})  # the deployment's own run storage answers
        url = client.display_url
    beats = {s["daemonType"]: float(s["lastHeartbeatTime"] or 0)
             for s in data["instance"]["daemonHealth"]["allDaemonStatuses"] if s["required"]}
    version = info.json().get("dagster_webserver_version", "?")
    return f"{url} answers (dagster-webserver {version}); code location {repository['repositoryLocationName']} " \
           "loaded; its run storage answers", beats


def run_checks(url: str | None) -> list[Check]:
    checks = [_attempt("storage", check_storage), _attempt("chromium", check_chromium),
              _attempt("batches", check_batches, required=False), _attempt("inbox", check_inbox, required=False)]
    if url:
        beats: dict[str, float] = {}

        def webserver() -> str:
            detail, seen = check_webserver(url)
            beats.update(seen)
            return detail

        checks.append(_attempt("webserver", webserver))
        if checks[-1].ok:
            checks.append(_attempt("daemon", lambda: check_daemon(beats)))
        else:
            checks.append(Check("daemon", False, "not checked: the webserver did not answer"))
    else:  # a CLI-only machine needs neither; say so rather than fail
        checks.append(_attempt("daemon", lambda: check_daemon(_beats_from_instance()), required=False))
        checks.append(Check("webserver", True, "not checked (give --url to check a running deployment)", False))
    return checks
