"""`intelli report`: the landscape report of a dataset (HTML, PDF, XLSX and a zip of it all)."""

from __future__ import annotations

import argparse
import json
import sys

from intelli_assets.errors import IntelliError

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _err(message: str) -> None:
    print(f"intelli: {message}", file=sys.stderr)


def chart_list(values: list[str] | None) -> list[str]:
    """`--charts a,b --charts c` or `--charts a b`; 'all' (or nothing) means every chart."""
    keys = [key.strip() for value in values or [] for key in value.split(",") if key.strip()]
    return [] if keys in ([], ["all"]) else keys


def cmd_report(args: argparse.Namespace) -> int:
    from intelli_assets.rendering import EngineRenderer

    renderer = EngineRenderer()  # the browser that prints the PDF starts now, while the rest is imported
    renderer.start_in_background()
    try:
        from intelli_assets.launch import open_instance
        from intelli_assets.launch.report import build_report, print_report_result

        result = build_report(open_instance(), args.partition, language=args.language, title=args.title or "",
                              charts=chart_list(args.charts), include_descriptions=not args.no_descriptions,
                              requested_by=args.requested_by, renderer=renderer)
    except IntelliError as exc:  # nothing was run: unknown partition or chart, nothing rendered
        if args.json:
            print(json.dumps({"status": "invalid", "partition": args.partition, "error": str(exc)},
                             ensure_ascii=False))
        _err(str(exc))
        return EXIT_INVALID
    finally:
        renderer.close()
    if args.json:
        print(json.dumps(result.to_dict(), ensure_ascii=False))
    else:
        print_report_result(result)
    if result.exit_signal:  # cancelled by Ctrl-C (130) or SIGTERM (143)
        return 128 + result.exit_signal
    if result.status != "success":
        _err(f"the report of {args.partition} failed: {result.error}")
        return EXIT_FAILED
    return EXIT_OK


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("report", help="the landscape report of a dataset: report.html, report.pdf, report-data.xlsx "
                                      "and bundle.zip, from the latest render of each chart")
    p.add_argument("partition", help="dataset partition (printed by intelli run)")
    p.add_argument("--language", choices=("es", "en"), default="es", help="language of the report's text")
    p.add_argument("--title", help="the report's title (default: 'Patent landscape: <source file>')")
    p.add_argument("--charts", nargs="+", metavar="KEY",
                   help="charts to include, in order (comma- or space-separated; default: every chart the dataset "
                        "can feed, those not rendered being listed as missing)")
    p.add_argument("--no-descriptions", action="store_true", help="leave the charts' AI descriptions out")
    p.add_argument("--requested-by", help="who asks, recorded on the run (default: $USER)")
    p.add_argument("--json", action="store_true",
                   help='print one JSON object: {"files", "charts_included", "charts_missing", ...}')
    p.set_defaults(func=cmd_report)
