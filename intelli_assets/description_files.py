"""The files of a description: the render it reads (its PNG checked against the recorded
sha256), the Description a model wrote (its text capped to a sane length) and the Markdown
written beside the render. No Dagster imports."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from intelli_assets.artifacts import write_atomic
from intelli_assets.errors import IntelliError

if TYPE_CHECKING:
    from intelli_assets.description_prompt import DescriptionRequest
    from intelli_assets.descriptions import Endpoint

MIN_CAP_CHARS = 4000
CUT_MARK = " […]"
SENTENCE_END = re.compile(r"[.!?…](?=\s)|\n")


class DescriptionError(IntelliError):
    """Describing failed; the message names the cause and never holds the API key."""


class RenderUnavailable(DescriptionError):
    """The chart was never rendered, or its PNG changed or vanished since."""


@dataclass(frozen=True)
class ChartRender:
    """One materialization of charts/<chart>: the render a description explains."""

    partition: str
    chart: str
    params_hash: str
    folder: Path
    run_id: str
    rendered_at: float
    chart_data: dict
    files: dict[str, dict]  # format -> {"path", "sha256", "bytes"}, as the chart recorded them
    settings: dict

    def identity(self) -> dict:
        png = self.files.get("png", {})
        return {"partition": self.partition, "chart": self.chart, "params_hash": self.params_hash,
                "folder": str(self.folder), "chart_run_id": self.run_id,
                "rendered_at": dt.datetime.fromtimestamp(self.rendered_at, dt.UTC).isoformat(),
                "png_path": png.get("path"), "png_sha256": png.get("sha256")}

    def read_png(self, optional: bool = False) -> bytes | None:
        """The PNG as rendered, checked against the sha256 its materialization recorded.
        None when the render has no PNG and `optional` (a text-only description)."""
        where = f"charts/{self.chart} (partition {self.partition}, render {self.params_hash}, run {self.run_id})"
        info = self.files.get("png")
        if info is None:
            if optional:
                return None
            raise RenderUnavailable(f"{where} has no PNG (formats {self.settings.get('formats')}): re-render it "
                                    "with png among the formats, or set text_only_fallback: true")
        path = Path(info["path"])
        if not info.get("sha256"):
            raise RenderUnavailable(f"{where} recorded no sha256 for its PNG (an older render); re-render the chart")
        if not path.is_file():
            raise RenderUnavailable(f"{path} of {where} is missing; re-render the chart")
        data = path.read_bytes()
        if hashlib.sha256(data).hexdigest() != info.get("sha256"):
            raise RenderUnavailable(f"{path} of {where} has changed since it was rendered (its sha256 differs "
                                    "from the recorded one); re-render the chart")
        return data



@dataclass
class Description:
    text: str
    model: str  # the model asked for (the one that answered)
    model_reported: str  # the model name in the endpoint's answer
    mode: str  # image | text_only
    usage: dict
    latency_ms: float  # of the call that answered
    total_ms: float  # every attempt and wait included
    attempts: int
    finish_reason: str | None
    events: list[dict]
    snapshot: dict
    truncated: bool = False  # the answer was longer than the cap (see cap_text)
    original_chars: int = 0


def cap_text(text: str, max_words: int) -> tuple[str, bool]:
    """`text` cut to at most max(4 × max_words words, 4000 characters), at a sentence end
    (else a word's) in its last quarter; (text, whether it was cut). A runaway answer is not
    worth storing or printing in full: the model was asked for max_words."""
    words = list(re.finditer(r"\S+", text))
    limit = max(MIN_CAP_CHARS, words[4 * max_words - 1].end() if len(words) >= 4 * max_words else len(text))
    limit = min(limit, max(MIN_CAP_CHARS, 40 * max_words))  # text without spaces counts too
    if len(text) <= limit:
        return text, False
    head = text[:limit]
    floor = limit * 3 // 4
    ends = [m.end() for m in SENTENCE_END.finditer(head) if m.end() >= floor]
    if ends:
        cut = ends[-1]
    else:
        space = head.rfind(" ", floor)
        cut = space if space > 0 else limit
    return head[:cut].rstrip() + CUT_MARK, True


def description_markdown(description: Description, request: DescriptionRequest, endpoint: Endpoint,
                         run_id: str, created_at: dt.datetime) -> str:
    """The description as Markdown, with a front matter saying which render it explains, who
    wrote it and for what request (values as JSON, which YAML reads too)."""
    render = request.render.identity()
    head = {"chart": render["chart"], "partition": render["partition"], "render": render["params_hash"],
            "chart_run_id": render["chart_run_id"], "png_sha256": render["png_sha256"],
            "model": description.model, "provider_host": endpoint.host, "mode": description.mode,
            "language": request.language, "user_context": request.user_context,
            "description_run_id": run_id, "created_at": created_at.isoformat(timespec="seconds")}
    if description.truncated:
        head |= {"truncated": True, "original_chars": description.original_chars}
    front = "\n".join(f"{k}: {json.dumps(v, ensure_ascii=False)}" for k, v in head.items())
    return f"---\n{front}\n---\n\n{description.text}\n"


def store_description(folder: Path, markdown: str, run_id: str, created_at: dt.datetime) -> tuple[Path, Path]:
    """Write `descriptions/<UTC time>-<run>.md` (kept for good) and `description.md` (the newest)
    in the render's folder: describing a render again never loses an earlier description.
    Returns (description.md, the dated copy)."""
    stamp = created_at.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    dated = write_atomic(folder / "descriptions" / f"{stamp}-{run_id[:8]}.md", markdown)
    return write_atomic(folder / "description.md", markdown), dated
