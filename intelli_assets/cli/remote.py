"""`intelli launch`: start charts on a running deployment through its GraphQL API (the client
in `intelli_assets.client`), as any other program would; `--url` on status, retry, cancel and
events does the same for following a job."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

EXIT_OK, EXIT_FAILED = 0, 1
URL_ENV = "INTELLI_URL"


def remote_url(args: argparse.Namespace) -> str | None:
    """The deployment to talk to: --url, else $INTELLI_URL; None: the local instance."""
    return getattr(args, "url", None) or os.environ.get(URL_ENV) or None


def client_for(args: argparse.Namespace):  # -> IntelliClient; imported late: `intelli run` never needs httpx
    from intelli_assets.client import DEFAULT_URL, IntelliClient
    from intelli_assets.launch import requester

    return IntelliClient(args.url or os.environ.get(URL_ENV) or DEFAULT_URL,
                         requested_by=requester(getattr(args, "requested_by", None)))


def print_job(job, stream=sys.stdout) -> None:  # noqa: ANN001 - a jobs.Job
    print(f"job {job.job_id} · {job.status} · partition {job.partition} · from {job.origin}"
          + (f" by {job.requested_by}" if job.requested_by else "")
          + (f" · idempotency key {job.idempotency_key}" if job.idempotency_key else ""), file=stream)
    print(f"  runs: {', '.join(f'{r.run_id[:8]} {r.status}' for r in job.runs)}", file=stream)
    for key, state in job.charts.items():
        tries = f"  ({state.attempts} attempts)" if state.attempts > 1 else ""
        print(f"  {key:<26} {state.status}{tries}", file=stream)
        for name, path in state.files.items():
            print(f"      {name:<10} {path}", file=stream)
        if state.error:
            print(f"      error: {state.error}", file=stream)


SOURCE_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".json")


def looks_like_path(target: str) -> bool:
    """A file to register, rather than a dataset partition key (which has no / nor suffix)."""
    return "/" in target or os.sep in target or target.lower().endswith(SOURCE_SUFFIXES) or Path(target).exists()


def cmd_launch(args: argparse.Namespace) -> int:
    from intelli_assets.errors import IntelliError

    try:
        return launch(args)
    except IntelliError as exc:
        if args.json:
            print(json.dumps({"status": "invalid", "error": str(exc)}, ensure_ascii=False))
        raise


def launch(args: argparse.Namespace) -> int:
    from intelli_assets.client import ClientError
    from intelli_assets.launch.config import chart_run_config, parse_overrides, select_charts

    charts = select_charts(args.charts)
    overrides = parse_overrides(args.set or [])
    chart_run_config(charts, overrides)  # bad settings fail before anything reaches the server
    say = (lambda line: None) if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    with client_for(args) as client:
        partition, source_path = args.target, None
        known = client.datasets()
        if args.target not in known and not looks_like_path(args.target):
            raise ClientError(f"no dataset {args.target!r} at {client.display_url} (and it is no file path); known datasets: "
                              f"{', '.join(known[-10:]) or 'none'}")
        if args.target not in known:
            local = Path(args.target).expanduser()
            path = str(local.resolve()) if local.exists() else args.target  # else: a path only the server sees
            say(f"registering {path} on {client.display_url} ...")
            partition, source_path = client.register_dataset(path)
            say(f"dataset {partition}")
        launched = client.launch(partition, charts, overrides, args.idempotency_key, source_path)
        if launched.existing:
            say(f"idempotency key {args.idempotency_key!r} already started job {launched.job}; following it")
        else:
            say(f"job {launched.job} launched (run {launched.run_id}, {launched.dagster_job})")
        if args.wait:
            try:
                if not args.json:
                    for event in client.events(launched.job,
                                               on_transport=lambda how: say(f"following events: {how}")):
                        say(event.line())
                job = client.wait(launched.job)
            except KeyboardInterrupt:  # the job is the deployment's: it goes on
                print(f"intelli: stopped following job {launched.job}; it goes on at {client.display_url} "
                      f"(`intelli cancel {launched.job} --url {client.display_url}` cancels it)", file=sys.stderr)
                return 130
        else:
            job = client.job(launched.job)
    if args.json:
        print(json.dumps({**launched.to_dict(), "status": job.status, "url": client.display_url,
                          "charts": {k: s.to_dict() for k, s in job.charts.items()}}, ensure_ascii=False))
    else:
        print_job(job)
    if not args.wait:
        return EXIT_OK
    return EXIT_OK if job.status == "SUCCESS" else EXIT_FAILED


def add_url_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--url", help=f"a running deployment's webserver, e.g. http://127.0.0.1:3000 (or ${URL_ENV}); "
                                 "without it, the local instance in $DAGSTER_HOME")


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("launch", help="launch charts on a running deployment through its GraphQL API")
    p.add_argument("target", metavar="PATH|PARTITION",
                   help="a dataset partition, or a source file the deployment can read (it is registered first)")
    add_url_argument(p)
    p.add_argument("--charts", default="all", help="'all' or comma-separated chart keys (see `intelli charts`)")
    p.add_argument("--set", action="append", metavar="KEY=VALUE", help="chart parameter or style option")
    p.add_argument("--idempotency-key", help="a key already used returns that job instead of starting another")
    p.add_argument("--requested-by", help="who asks, recorded on the job (default: $USER)")
    p.add_argument("--wait", action="store_true", help="follow the job's events and return when it has ended")
    p.add_argument("--json", action="store_true", help='print {"job", "partition", "status", ...}')
    p.set_defaults(func=cmd_launch)
    add_doctor_command(sub)


def cmd_doctor(args: argparse.Namespace) -> int:
    from intelli_assets.launch.doctor import run_checks

    url = args.url or os.environ.get(URL_ENV)
    checks = run_checks(url)
    failed = [c for c in checks if not c.ok and c.required]
    if args.json:
        print(json.dumps({"ok": not failed, "checks": [c.to_dict() for c in checks]}, ensure_ascii=False))
    else:
        for check in checks:
            mark = "ok  " if check.ok else ("FAIL" if check.required else "warn")
            print(f"{mark}  {check.name:<10} {check.detail}")
        if failed:
            print(f"intelli: not healthy: {', '.join(c.name for c in failed)}", file=sys.stderr)
    return EXIT_FAILED if failed else EXIT_OK


def add_doctor_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("doctor", help="check storage, Chromium, the daemon's heartbeat and the webserver")
    p.add_argument("--url", help=f"also check a running deployment's webserver and daemon (or ${URL_ENV})")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_doctor)
