"""The inbox folder analysts drop exports into. No Dagster imports.

A file is read only once it is stable, so a half-copied file is never read: nothing has written
to it or changed it for `QUIET_SECONDS` (its status-change time, which copy tools cannot set
back), or it had the same size and modification time on the previous look, a sensor tick
earlier. A CSV file always waits for that second look: cut short, it would still read, with
rows missing. So does every file when the folder's file system keeps another time than this
machine (a network share whose clock is behind would make a file being written look quiet):
a probe file (`.intelli-clock-probe`) written just before tells. Hidden, temporary and lock files are left alone. Every file that is read leaves
the inbox: to `processed/`, or to `rejected/` beside a `NAME.reason.txt` saying why; nothing is
ever deleted.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

from intelli_assets.artifacts import bounded_name, instance_home
from intelli_assets.errors import IntelliError

# Filters workbooks and results lists (Excel), results lists (.csv), Lens.org queries
SUPPORTED_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".lens.json")
# browsers, Excel and copy tools write these while a file is on its way
TEMPORARY_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", ".swp")
PROCESSED, REJECTED = "processed", "rejected"

Snapshot = tuple[int, int]  # size, mtime in ns
EMPTY_GRACE_NS = 60 * 10**9  # an empty file is given a minute to get its bytes, then rejected
# A file untouched this long is taken at the first look that sees it, ~3 s sooner on average
# than waiting for the next look (5 s apart). Long enough for a copy's pauses between writes.
QUIET_SECONDS = 2.0
TRUNCATION_SILENT_SUFFIXES = (".csv",)  # a half-copied file of these reads without an error
CLOCK_PROBE = ".intelli-clock-probe"  # hidden: never taken as an export
CLOCK_TOLERANCE_NS = 10**9  # timestamp granularity; a file system off by more is not trusted
DEFAULT_BATCH_RUNS = 2


def inbox_folder(configured: str = "") -> Path:
    """`configured`, else $INTELLI_INBOX, else $DAGSTER_HOME/inbox."""
    return Path(configured or os.environ.get("INTELLI_INBOX") or instance_home() / "inbox").expanduser().resolve()


def inbox_batch_runs(configured: int | None = None) -> int:
    """How many runs may share the new datasets of one tick: `configured`, else
    $INTELLI_INBOX_BATCH_RUNS, else 2 (one per core of a small machine); 0: a run per dataset."""
    if configured is not None:
        raw = str(configured)
    else:
        raw = os.environ.get("INTELLI_INBOX_BATCH_RUNS", "").strip() or str(DEFAULT_BATCH_RUNS)
    if not re.fullmatch(r"[0-9]+", raw):  # a typo must not silently mean "the default"
        raise IntelliError(f"INTELLI_INBOX_BATCH_RUNS / batch_runs={raw!r}: expected a whole number, 0 or more "
                           "(0: a run per dataset)")
    return int(raw)


def is_ignored(name: str) -> bool:
    """Hidden, Office lock (`~$Book.xlsx`) and in-transfer files are never touched."""
    lowered = name.lower()
    return name.startswith((".", "~$")) or lowered.endswith(TEMPORARY_SUFFIXES) or lowered.endswith("~")


def snapshot(path: Path) -> Snapshot | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return stat.st_size, stat.st_mtime_ns


def folder_clock_agrees(folder: Path) -> bool:
    """Does a file written in `folder` now get this machine's time (within a second)? False
    when the probe cannot be written."""
    probe = folder / CLOCK_PROBE
    before = time.time_ns()
    try:
        probe.write_bytes(str(before).encode())  # its times are set by the file system
        stat = probe.stat()
    except OSError:
        return False
    after = time.time_ns()
    changed = max(stat.st_ctime_ns, stat.st_mtime_ns)
    return before - CLOCK_TOLERANCE_NS <= changed <= after + CLOCK_TOLERANCE_NS


def scan(folder: Path, previous: dict[str, Snapshot],
         quiet_seconds: float = QUIET_SECONDS) -> tuple[list[Path], dict[str, Snapshot]]:
    """(files stable at this look, oldest first; what to remember for the next look): quiet for
    `quiet_seconds` (0: never), or unchanged since the previous look. Only files still in the
    inbox are remembered, so the memory stays small."""
    stable: list[tuple[int, Path]] = []
    seen: dict[str, Snapshot] = {}
    now_ns = time.time_ns()
    clock_agrees: bool | None = None  # probed once, when a file would be taken for being quiet
    for entry in os.scandir(folder):
        if not entry.is_file() or is_ignored(entry.name):  # subfolders (processed/, rejected/) too
            continue
        try:
            stat = entry.stat()
        except OSError:  # gone meanwhile
            continue
        now = (stat.st_size, stat.st_mtime_ns)
        if now[0] == 0 and now_ns - now[1] < EMPTY_GRACE_NS:  # created, not written yet
            continue
        if tuple(previous.get(entry.name, ())) == now:
            stable.append((now[1], Path(entry.path)))
            continue
        quiet = (quiet_seconds > 0 and not entry.name.lower().endswith(TRUNCATION_SILENT_SUFFIXES)
                 and now_ns - max(stat.st_ctime_ns, stat.st_mtime_ns) >= quiet_seconds * 1e9)
        if quiet and clock_agrees is None:
            clock_agrees = folder_clock_agrees(folder)
        if quiet and clock_agrees:
            stable.append((now[1], Path(entry.path)))
        else:
            seen[entry.name] = now
    return [path for _, path in sorted(stable)], seen


def unique_target(folder: Path, name: str) -> Path:
    """`folder/name`, or `name-2`, `name-3`… when taken: nothing is overwritten. Very long
    names are shortened (`bounded_name`) so the reason file beside them fits too."""
    folder.mkdir(parents=True, exist_ok=True)
    name = bounded_name(name)
    target = folder / name
    stem, suffix = Path(name).stem, Path(name).suffix
    if name.lower().endswith(".lens.json"):  # q-2.lens.json stays a query file
        stem, suffix = name[:-len(".lens.json")], name[-len(".lens.json"):]
    n = 1
    while target.exists():
        n += 1
        target = folder / f"{stem}-{n}{suffix}"
    return target


def move_processed(path: Path) -> Path:
    target = unique_target(path.parent / PROCESSED, path.name)
    path.replace(target)
    return target


def move_rejected(path: Path, reason: str) -> Path:
    target = unique_target(path.parent / REJECTED, path.name)
    path.replace(target)
    target.with_name(target.name + ".reason.txt").write_text(reason.rstrip() + "\n", encoding="utf-8")
    return target


def unsupported_reason(path: Path) -> str | None:
    if not path.name.lower().endswith(SUPPORTED_SUFFIXES):
        return (f"{path.name}: unsupported file type {path.suffix or '(none)'!r}; the inbox takes Espacenet "
                f"exports ({', '.join(SUPPORTED_SUFFIXES[:-1])}) and Lens.org query files (NAME.lens.json)")
    return None
