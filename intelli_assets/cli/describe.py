"""`intelli describe`: an AI description of the latest render of one chart of a dataset."""

from __future__ import annotations

import argparse
import json
import sys

from intelli_assets.errors import IntelliError

EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


def _err(message: str) -> None:
    print(f"intelli: {message}", file=sys.stderr)


def cmd_describe(args: argparse.Namespace) -> int:
    from intelli_assets.launch import describe_chart, open_instance, print_description

    progress = None if args.json else (lambda line: print(line, file=sys.stderr, flush=True))
    try:
        report = describe_chart(open_instance(), args.partition, args.chart, context=args.context,
                                language=args.language, models=args.model, max_words=args.max_words,
                                text_only_fallback=args.text_only_fallback, requested_by=args.requested_by,
                                progress=progress)
    except IntelliError as exc:  # nothing was run: unknown chart or partition, no render, no endpoint
        if args.json:
            print(json.dumps({"status": "invalid", "error": str(exc)}, ensure_ascii=False))
        _err(str(exc))
        return EXIT_INVALID
    if args.json:
        print(json.dumps(report.to_dict(), ensure_ascii=False))
    else:
        print_description(report)
    if report.exit_signal:  # cancelled by Ctrl-C (130) or SIGTERM (143)
        return 128 + report.exit_signal
    if report.status != "success":
        _err(f"describing charts/{args.chart} failed: {report.error}")
        return EXIT_FAILED
    return EXIT_OK


def add_commands(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("describe", help="ask an OpenAI-compatible model to describe the latest render of a chart "
                                        "($OPENAI_BASE_URL, $OPENAI_API_KEY)")
    p.add_argument("partition", help="dataset partition (printed by intelli run)")
    p.add_argument("--chart", required=True, help="chart key (see `intelli charts`)")
    p.add_argument("--context", default="", help="what you want to know, e.g. 'focus on Ecuador'")
    p.add_argument("--language", choices=("es", "en"), default="es")
    p.add_argument("--model", action="append", metavar="NAME",
                   help="model to ask; repeat for fallbacks, in order (default: gpt-4.1-mini, then gpt-4.1)")
    p.add_argument("--max-words", type=int, help="length limit in words (default 150)")
    p.add_argument("--text-only-fallback", action="store_true",
                   help="if a model refuses image input, describe from the chart's data alone")
    p.add_argument("--requested-by", help="who asks, recorded on the run (default: $USER)")
    p.add_argument("--json", action="store_true", help='print one JSON object: {"text", "model", "usage", ...}')
    p.set_defaults(func=cmd_describe)
