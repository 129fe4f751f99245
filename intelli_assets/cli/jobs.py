"""`intelli status | retry | cancel | events | audit`: following jobs and checking their files."""

from __future__ import annotations

import argparse
import json
import sys
import time

from intelli_assets.cli.remote import add_url_argument, client_for, print_job, remote_url

EXIT_OK, EXIT_FAILED = 0, 1
FINAL = {"SUCCESS", "PARTIAL_SUCCESS", "FAILED", "CANCELLED"}


def print_json(data: object) -> None:
    print(json.dumps(data, ensure_ascii=False, indent=None))


def remote_events(client, job_id: str) -> list:  # noqa: ANN001 - an IntelliClient
    from intelli_assets.client.facts import event_of

    events = [event_of(raw) for run in client.job_runs(job_id) for raw in client.run_events(run["runId"])]
    return sorted((e for e in events if e is not None), key=lambda e: e.timestamp)


def cmd_status(args: argparse.Namespace) -> int:
    if remote_url(args):
        with client_for(args) as client:
            job = client.job(args.job)
            events = remote_events(client, job.job_id)
    else:
        from intelli_assets.batch_runs import batch_run, batch_summary, place_in_batches, place_line, print_batch
        from intelli_assets.jobs import JobNotFound, job_events, load_job
        from intelli_assets.launch import open_instance

        instance = open_instance()
        batch = batch_run(instance, args.job)
        if batch is not None:  # an inbox batch run: its datasets, each a job of its own
            summary = batch_summary(instance, batch)
            if args.json:
                print_json(summary)
            else:
                print_batch(summary)
            return EXIT_OK
        try:
            job = load_job(instance, args.job)
        except JobNotFound:
            place = place_in_batches(instance, args.job)  # a dataset before (or without) its turn
            if place is None:
                raise
            if args.json:
                print_json(place)
            else:
                print(place_line(place))
            return EXIT_OK
        events, _ = job_events(instance, job.job_id)
    if args.json:
        recent = events[-args.events:] if args.events > 0 else []
        print_json({**job.to_dict(), "last_events": [e.to_dict() for e in recent]})
        return EXIT_OK
    print_job(job)
    recent = events[-args.events:] if args.events > 0 else []
    if recent:
        print("  last events:")
        for event in recent:
            print(f"    {event.line()}")
    return EXIT_OK


def cmd_retry(args: argparse.Namespace) -> int:
    if remote_url(args):  # launched on the deployment; returns when the job has ended again
        with client_for(args) as client:
            launched = client.retry(args.job, args.chart)
            job = client.wait(launched.job)
        if args.json:
            print_json({**job.to_dict(), "run_id": launched.run_id})
        else:
            print_job(job)
        return EXIT_OK if job.charts[args.chart].status == "success" else EXIT_FAILED
    from intelli_assets.launch import open_instance, print_report, retry_chart

    progress = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    report = retry_chart(open_instance(), args.job, args.chart, progress, args.requested_by)
    if args.json:
        print_json(report.to_dict())
    else:
        print_report(report)
    if report.exit_signal:
        return 128 + report.exit_signal
    return EXIT_OK if report.charts.get(args.chart, {}).get("status") == "success" else EXIT_FAILED


def cmd_cancel(args: argparse.Namespace) -> int:
    if remote_url(args):
        with client_for(args) as client:
            lines = [client.cancel_chart(args.job, args.chart)] if args.chart else client.cancel_job(args.job)
    else:
        from intelli_assets.batch_runs import batch_run, cancel_batch, place_in_batches, place_line
        from intelli_assets.jobs import JobNotFound, cancel_chart, cancel_job
        from intelli_assets.launch import open_instance, requester

        instance = open_instance()
        who = requester(args.requested_by)
        batch = None if args.chart else batch_run(instance, args.job)
        try:
            if batch is not None:
                lines = cancel_batch(instance, batch, who)
            else:
                lines = ([cancel_chart(instance, args.job, args.chart, who)] if args.chart
                         else cancel_job(instance, args.job, who))
        except JobNotFound:
            place = place_in_batches(instance, args.job)
            if place is None:
                raise
            raise JobNotFound(f"{place_line(place)}. A dataset has nothing to cancel before its turn; "
                              f"`intelli cancel {place['batch_run']}` stops the batch's datasets not drawn yet") from None
    if args.json:
        print_json({"job": args.job, "chart": args.chart, "done": lines})
    else:
        print("\n".join(lines))
    return EXIT_OK


def cmd_events(args: argparse.Namespace) -> int:
    if remote_url(args):  # the webserver's websocket subscription (polling where it is refused)
        with client_for(args) as client:
            events = client.events(args.job) if args.follow else iter(remote_events(client, args.job))
            for event in events:
                print(json.dumps(event.to_dict(), ensure_ascii=False) if args.json else event.line(), flush=True)
        return EXIT_OK
    from intelli_assets.jobs import job_events, load_job
    from intelli_assets.launch import open_instance

    instance = open_instance()
    cursors: dict = {}
    while True:
        events, cursors = job_events(instance, args.job, cursors)
        for event in events:
            print(json.dumps(event.to_dict(), ensure_ascii=False) if args.json else event.line(), flush=True)
        if not args.follow:
            return EXIT_OK
        if load_job(instance, args.job).status in FINAL:
            events, cursors = job_events(instance, args.job, cursors)  # the run's last events
            for event in events:
                print(json.dumps(event.to_dict(), ensure_ascii=False) if args.json else event.line(), flush=True)
            return EXIT_OK
        time.sleep(0.5)  # polling the local event log; with --url, the webserver's subscription


def cmd_audit(args: argparse.Namespace) -> int:
    from intelli_assets.audit import audit_partition
    from intelli_assets.launch import open_instance

    entries = audit_partition(open_instance(), args.partition)
    broken = [(e, f) for e in entries for f in e.files if f.state in ("changed", "missing")]
    if args.json:
        print_json({"partition": args.partition, "intact": not broken, "materializations": [e.to_dict() for e in entries]})
    else:
        for entry in entries:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(entry.timestamp))
            print(f"{when}  {entry.chart:<26} job {entry.job[:8]} run {entry.run_id[:8]} from {entry.origin}"
                  + (f" by {entry.requested_by}" if entry.requested_by else "")
                  + f"  params {entry.params.get('params', {})}")
            for file in entry.files:
                print(f"      {file.state:<10} {file.name:<10} {file.path}")
        print(f"{len(entries)} materializations; " + ("every file intact" if not broken else f"{len(broken)} file(s) changed or missing"))
    for entry, file in broken:
        print(f"intelli: {file.state}: {file.path} ({entry.chart}, run {entry.run_id})", file=sys.stderr)
    return EXIT_FAILED if broken else EXIT_OK


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("status", help="a job's status, each chart's status and files, its last events")
    p.add_argument("job", help="job id (printed by intelli run) or run id")
    p.add_argument("--events", type=int, default=10, help="how many recent events to show")
    p.add_argument("--json", action="store_true")
    add_url_argument(p)
    p.set_defaults(func=cmd_status)

    p = sub.add_parser("retry", help="re-draw one chart of a job, with the job's settings")
    p.add_argument("job")
    p.add_argument("--chart", required=True)
    p.add_argument("--requested-by", help="who asks (default: $USER)")
    p.add_argument("--json", action="store_true")
    add_url_argument(p)
    p.set_defaults(func=cmd_retry)

    p = sub.add_parser("cancel", help="cancel a job, or one chart of it")
    p.add_argument("job")
    p.add_argument("--chart", help="cancel only this chart; the others finish")
    p.add_argument("--requested-by", help="who asks (default: $USER)")
    p.add_argument("--json", action="store_true")
    add_url_argument(p)
    p.set_defaults(func=cmd_cancel)

    p = sub.add_parser("events", help="a job's events, oldest first")
    p.add_argument("job")
    p.add_argument("--follow", action="store_true", help="keep printing until the job ends")
    p.add_argument("--json", action="store_true", help="one JSON object per line")
    add_url_argument(p)
    p.set_defaults(func=cmd_events)

    p = sub.add_parser("audit", help="every chart materialization of a dataset, files checked against their sha256")
    p.add_argument("partition")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_audit)
