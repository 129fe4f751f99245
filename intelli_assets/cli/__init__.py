"""`intelli`: validate sources, run the main job, follow and audit jobs, try the demo, open the UI.

Exit codes: 0 success, 1 a chart or run failed, 2 invalid input (file, sheet, parameter).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
import warnings
from pathlib import Path

from intelli_assets.cli.describe import add_commands as add_describe_commands
from intelli_assets.cli.jobs import add_commands as add_job_commands
from intelli_assets.cli.remote import add_commands as add_remote_commands
from intelli_assets.cli.report import add_commands as add_report_commands
from intelli_assets.errors import IntelliError, InvalidSourceError

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _err(message: str) -> None:
    print(f"intelli: {message}", file=sys.stderr)


def cmd_validate(args: argparse.Namespace) -> int:
    from intelli_assets.sources import FILTERS, LENS_QUERY, source_kind

    path = Path(args.path)
    try:
        kind = source_kind(path)
        if kind == FILTERS:
            return _validate_filters(path, args.json)
        if kind == LENS_QUERY:
            from intelli_assets.lens import TOKEN_ENV, read_lens_query

            query = read_lens_query(path)
            summary = {"path": str(path), "valid": True, "kind": kind, "name": query.name,
                       "max_records": query.max_records, "include": query.include,
                       "token_set": bool(os.environ.get(TOKEN_ENV, "").strip())}
            lines = [f"{path}: valid Lens.org query {query.name!r} (max_records: {query.max_records or 'all'}; "
                     f"{len(query.include)} fields)"] + \
                ([] if summary["token_set"] else [f"  note: {TOKEN_ENV} is not set; `intelli run` will need it"])
        else:
            from intelli_assets.sources import check_records, read_source

            data = read_source(path, kind)
            check_records(path, data)
            summary = {"path": str(path), "valid": True, "kind": kind, "query": data.query, **data.details}
            records = data.details["records"]
            lines = [f"  header row {data.details['header_row']}"
                     + (f" of sheet {data.details['sheet']!r}" if data.details.get("sheet") else ""),
                     *(f"  {source!r:<28} -> {meaning}" for source, meaning in data.details["columns_map"].items()),
                     *(f"  warning: {w}" for w in data.details.get("warnings", [])),
                     f"{path}: valid Espacenet results list: {data.details['rows']} rows, {records['publications']} "
                     f"publications in {records['families']} families"]
    except InvalidSourceError as exc:
        if args.json:
            print(json.dumps({"path": str(path), "valid": False, "problems": exc.problems}, ensure_ascii=False))
        else:
            _err(str(exc))
        return EXIT_INVALID
    print(json.dumps(summary, ensure_ascii=False, default=str) if args.json else "\n".join(lines))
    return EXIT_OK


def _validate_filters(path: Path, as_json: bool) -> int:
    from intelli_assets.espacenet import inspect_workbook

    _, report = inspect_workbook(path)
    if as_json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        for sheet in report.recognized:
            verdict = "ok" if sheet.ok else "INVALID: " + "; ".join(sheet.errors)
            if sheet.warnings:
                verdict += " (" + "; ".join(sheet.warnings) + ")"
            print(f"  {sheet.sheet!r:<36} -> {sheet.facet:<20} {sheet.rows:>5} rows  {verdict}")
        for sheet in report.ignored_sheets:
            print(f"  {sheet!r:<36} (ignored)")
        if report.ok:
            print(f"{path}: valid Espacenet Filters workbook")
        else:
            _err(f"{path}: invalid:\n" + "\n".join(f"  - {p}" for p in report.problems()))
    return EXIT_OK if report.ok else EXIT_INVALID


def cmd_run(args: argparse.Namespace, path: Path | None = None) -> int:
    from intelli_assets.rendering import EngineRenderer, engine_from_overrides

    path = path or Path(args.path)
    renderer = EngineRenderer(engine_from_overrides(args.set or []))  # --set engine=fast|kaleido
    if path.is_file():  # start Chromium first, on the other core, while the rest is imported
        renderer.start_in_background()
    forecasts = None
    try:
        from intelli_assets.charts import fits_models
        from intelli_assets.forecast_worker import StartedForecasts
        from intelli_assets.launch import open_instance, parse_overrides, print_report, run_workbook, select_charts

        charts = select_charts(args.charts, path)  # 'all': what this source can feed
        overrides = parse_overrides(args.set or [])
        if path.is_file() and fits_models(charts):  # its statsmodels import, on the other core, while the run is set up
            forecasts = StartedForecasts()
        instance = open_instance()
        progress = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
        report = run_workbook(path, charts, overrides, instance, progress,
                              idempotency_key=getattr(args, "idempotency_key", None),
                              requested_by=getattr(args, "requested_by", None), renderer=renderer,
                              title_language=getattr(args, "title_language", None), forecasts=forecasts)
    except IntelliError as exc:
        if args.json:
            print(json.dumps({"status": "invalid", "error": str(exc)}, ensure_ascii=False))
        _err(str(exc))
        return EXIT_INVALID
    finally:
        if forecasts is not None:  # first: at once, where closing the renderer may wait for its browser
            forecasts.close()
        renderer.close()
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print_report(report)
    if report.exit_signal:  # cancelled by Ctrl-C (130) or SIGTERM (143)
        return 128 + report.exit_signal
    return EXIT_OK if report.status == "success" else EXIT_FAILED


def cmd_demo(args: argparse.Namespace) -> int:
    from intelli_assets.launch import prepare_home
    from intelli_assets.sample_workbook import write_sample_workbook

    sample = prepare_home() / "samples" / "espacenet-sample.xlsx"
    if not sample.exists():  # keep the first copy: same bytes, same partition on every demo
        write_sample_workbook(sample)
    if not args.json:
        print(f"demo workbook: {sample}", file=sys.stderr)
    code = cmd_run(args, sample)
    if code == EXIT_OK and not args.json:
        print(f"\nBrowse it: intelli ui   (Dagster UI on http://127.0.0.1:3000, DAGSTER_HOME={os.environ['DAGSTER_HOME']})")
    return code


def cmd_ui(args: argparse.Namespace) -> int:
    from intelli_assets.launch import open_instance

    open_instance()
    workspace = Path(args.workspace).resolve()
    if not workspace.exists():
        _err(f"{workspace} not found; run from the project root or pass --workspace")
        return EXIT_INVALID
    dagster = Path(sys.executable).parent / "dagster"  # the venv's, even when it is not activated
    argv = [str(dagster), "dev", "-w", str(workspace), "-h", "127.0.0.1", "-p", str(args.port)]
    os.chdir(os.environ["DAGSTER_HOME"])  # else dagster warns about the project's own dagster.yaml
    # a shell's background job starts with Ctrl-C ignored, and dagster dev then ignores SIGTERM
    # too (it maps SIGTERM to its SIGINT handler): give it the default handlers
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, signal.SIG_DFL)
    os.execv(argv[0], argv)
    return EXIT_FAILED  # not reached


def cmd_charts(args: argparse.Namespace) -> int:
    from intelli_assets.charts import CHARTS

    for spec in CHARTS.values():
        params = ", ".join(f"{p.name}={p.default}" for p in spec.params) or "-"
        print(f"{spec.key:<26} v{spec.version}  facet={spec.facet:<17} params: {params}\n    {spec.description}")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="intelli", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("validate", help="check a source: Filters workbook (sheet by sheet), results list or Lens query")
    p.add_argument("path")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=cmd_validate)

    for name, func, help_text in (("run", cmd_run, "ingest a source (Espacenet .xlsx/.csv, NAME.lens.json) and render charts"),
                                  ("demo", cmd_demo, "run everything on a generated sample workbook")):
        p = sub.add_parser(name, help=help_text)
        if name == "run":
            p.add_argument("path")
            p.add_argument("--title-language", metavar="CODE",
                           help="results lists and Lens: which title to keep when a record has several (en, es, de...)")
        p.add_argument("--charts", default="all", help="'all' or comma-separated chart keys (see `intelli charts`)")
        p.add_argument("--set", action="append", metavar="KEY=VALUE",
                       help="chart parameter or style option, e.g. top_n=10, palette=ocean, language=en")
        p.add_argument("--json", action="store_true", help="print one JSON object")
        p.add_argument("--idempotency-key", help="a key already used returns that job instead of starting another")
        p.add_argument("--requested-by", help="who asks, recorded on the job (default: $USER)")
        p.set_defaults(func=func)

    add_job_commands(sub)
    add_remote_commands(sub)
    add_describe_commands(sub)
    add_report_commands(sub)

    p = sub.add_parser("charts", help="list the chart catalogue and parameters")
    p.set_defaults(func=cmd_charts)

    p = sub.add_parser("ui", help="start the Dagster UI on 127.0.0.1 with this project's instance")
    p.add_argument("--port", type=int, default=3000)
    p.add_argument("--workspace", default="workspace.yaml")
    p.set_defaults(func=cmd_ui)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    warnings.filterwarnings("ignore")  # library chatter is not for CLI users; errors still show
    logging.getLogger("dagster").setLevel(logging.ERROR)
    try:
        return args.func(args)
    except IntelliError as exc:
        _err(str(exc))
        return EXIT_INVALID
    except KeyboardInterrupt:
        _err("interrupted")
        return 130
    except BrokenPipeError:  # piped into `head`: the reader has what it wanted
        return EXIT_OK


def entrypoint() -> None:
    """Console script: exit without the interpreter's teardown. Freeing the objects of
    pandas, statsmodels and Dagster takes ~0.8 s and nothing needs it: every file is written
    atomically and closed, and the instance's SQLite connections are closed here."""
    code = main()
    instance = sys.modules.get("intelli_assets.launch.instance")  # loaded when a command opened one
    if instance is not None:  # os._exit runs no atexit: its files' write-ahead logs are folded back now
        instance.close_instance_files()
    try:
        sys.stdout.flush()
        sys.stderr.flush()
    except BrokenPipeError:  # `intelli status … | head`: the reader left, nothing to report
        pass
    os._exit(code)


if __name__ == "__main__":
    entrypoint()
