"""The inbox folder analysts drop exports into. No Dagster imports.

A file is read only once it is stable: the same size and modification time on two looks a
sensor tick apart, so a half-copied file is not read. A file nothing has written to or changed
for a quiet time (2 s unless set; its status-change time, which copy tools cannot set back) is
taken at the first look instead, but only if it is a valid export then: one that is not (a
copy that paused) waits for the second look rather than be rejected half-written. A look
that sees files changing within the last few seconds waits until they are quiet (at most
`SETTLE_SECONDS`) and looks again, so a drop is taken at the look that sees it. No CSV and
no unsupported name is taken early (a CSV cut short still reads, with rows missing), and no
file is when the folder's file system keeps another time than this machine (a share whose
clock lags would make a file being written look quiet), which a probe file written and
removed at the look tells. Hidden, temporary and lock files are left alone. Every file that is read leaves the inbox: to
`processed/`, or to `rejected/` beside a `NAME.reason.txt` saying why; nothing is ever deleted.
Each file taken for a run is written down first (`intelli_assets/taken_records.py`).
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import tempfile
import time
from pathlib import Path

from intelli_assets.artifacts import bounded_name, instance_home
from intelli_assets.errors import IntelliError

# Filters workbooks and results lists (Excel), results lists (.csv), Lens.org queries
SUPPORTED_SUFFIXES = (".xlsx", ".xlsm", ".xls", ".ods", ".csv", ".lens.json")
# browsers, Excel and copy tools write these while a file is on its way
TEMPORARY_SUFFIXES = (".part", ".partial", ".crdownload", ".download", ".tmp", ".swp", ".filepart")
PROCESSED, REJECTED = "processed", "rejected"

Snapshot = tuple[int, int]  # size, mtime in ns
EMPTY_GRACE_NS = 60 * 10**9  # an empty file is given a minute to get its bytes, then rejected
# A valid file untouched this long is taken at the first look that sees it, ~3 s sooner on
# average than waiting for the next look (5 s apart)
QUIET_SECONDS = 2.0
# A look that sees files changing waits up to this long for them to be quiet, then looks again
SETTLE_SECONDS = 3.0
SETTLE_SLACK_SECONDS = 0.1  # the second look reads the clocks again: a hair short would miss
TRUNCATION_SILENT_SUFFIXES = (".csv",)  # a half-copied file of these reads without an error
CLOCK_PROBE_PREFIX = ".intelli-clock-probe-"  # hidden: never taken as an export
CLOCK_TOLERANCE_NS = 10**9  # a file system whose time is off by more is not trusted
COARSE_MARGIN_NS = 2 * 10**9  # whole-second times (FAT: 2 s steps) make a file look older
DEFAULT_BATCH_RUNS = 2


def inbox_folder(configured: str = "") -> Path:
    """`configured`, else $INTELLI_INBOX, else $DAGSTER_HOME/inbox."""
    return Path(configured or os.environ.get("INTELLI_INBOX") or instance_home() / "inbox").expanduser().resolve()


def raw_setting(configured: object, env: str, default: object) -> str:
    """A setting as text, to be checked: `configured`, else `$env`, else `default`."""
    if configured is not None:
        return str(configured)
    return os.environ.get(env, "").strip() or str(default)


def inbox_batch_runs(configured: int | None = None) -> int:
    """How many runs may share the new datasets of one tick: `configured`, else
    $INTELLI_INBOX_BATCH_RUNS, else 2 (one per core of a small machine); 0: a run per dataset."""
    raw = raw_setting(configured, "INTELLI_INBOX_BATCH_RUNS", DEFAULT_BATCH_RUNS)
    if not re.fullmatch(r"[0-9]+", raw):  # a typo must not silently mean "the default"
        raise IntelliError(f"INTELLI_INBOX_BATCH_RUNS / batch_runs={raw!r}: expected a whole number, 0 or more "
                           "(0: a run per dataset)")
    return int(raw)


def inbox_quiet_seconds(configured: float | None = None) -> float:
    """How long a file must be untouched to be taken at the first look: `configured`, else
    $INTELLI_INBOX_QUIET_SECONDS, else 2; 0: every file waits for a second look."""
    raw = raw_setting(configured, "INTELLI_INBOX_QUIET_SECONDS", QUIET_SECONDS)
    try:
        seconds = float(raw)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds < float("inf"):
        raise IntelliError(f"INTELLI_INBOX_QUIET_SECONDS / quiet_seconds={raw!r}: expected seconds, 0 or more "
                           "(0: every file waits for a second look)")
    return seconds


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


def folder_time_margin_ns(folder: Path) -> int | None:
    """What to add to the quiet time in `folder`: how far its file system's clock lags ours
    (up to a second), or more where it keeps whole seconds (FAT: 2 s steps, so a file looks
    up to 2 s older); None when its clock is further off, or the probe cannot be written. The
    probe is a new file of our own (never a name someone could have put a link or a pipe at),
    removed at once."""
    before = time.time_ns()
    try:
        fd, probe = tempfile.mkstemp(prefix=CLOCK_PROBE_PREFIX, dir=folder)
    except OSError:
        return None
    try:
        os.write(fd, b"0")  # its times are set by the file system
        changed = max((stat := os.fstat(fd)).st_ctime_ns, stat.st_mtime_ns)
    except OSError:
        changed = None
    with contextlib.suppress(OSError):
        os.unlink(probe)
    try:
        os.close(fd)  # a network file system may report a failed write only here
    except OSError:
        return None
    if changed is None:
        return None
    coarse = changed % 10**6 == 0
    slack = CLOCK_TOLERANCE_NS + (COARSE_MARGIN_NS if coarse else 0)
    if not before - slack <= changed <= time.time_ns() + CLOCK_TOLERANCE_NS:
        return None
    return slack if coarse else max(0, before - changed)


def fresh_stat(path: str) -> os.stat_result | None:
    """The file's status as its file system has it now: opening it makes a network file system
    (NFS) fetch it again rather than answer from its cache of a few seconds."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        return os.fstat(fd)
    finally:
        os.close(fd)


def untouched_ns(stat: os.stat_result, now_ns: int) -> int:
    """How long nothing has written to or changed a file (copy tools cannot set ctime back)."""
    return now_ns - max(stat.st_ctime_ns, stat.st_mtime_ns)


def may_be_taken_early(name: str) -> bool:
    """Not a CSV (read without an error when cut short), nor an unsupported name (rejected
    only once unchanged on two looks)."""
    name = name.lower()
    return name.endswith(SUPPORTED_SUFFIXES) and not name.endswith(TRUNCATION_SILENT_SUFFIXES)


def scan(folder: Path, previous: dict[str, Snapshot],
         quiet_seconds: float = QUIET_SECONDS) -> tuple[list[Path], dict[str, Snapshot], set[str]]:
    """(files stable at this look, oldest first; what to remember for the next look; the names
    of those taken early, for being quiet `quiet_seconds` (0: never), not for being unchanged
    since the previous look). Only files still in the inbox are remembered, so the memory
    stays small."""
    stable: list[tuple[int, Path]] = []
    seen: dict[str, Snapshot] = {}
    early: set[str] = set()
    now_ns = time.time_ns()
    margin_ns = functools.cache(lambda: folder_time_margin_ns(folder))  # probed once, if a file may be quiet

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
        seen[entry.name] = now
        if quiet_seconds <= 0 or not may_be_taken_early(entry.name) or untouched_ns(stat, now_ns) < quiet_seconds * 1e9:
            continue
        fresh = fresh_stat(entry.path) if margin_ns() is not None else None
        if fresh is None or (fresh.st_size, fresh.st_mtime_ns) != now or \
                untouched_ns(fresh, now_ns) < quiet_seconds * 1e9 + margin_ns():
            continue
        del seen[entry.name]
        stable.append((now[1], Path(entry.path)))
        early.add(entry.name)
    return [path for _, path in sorted(stable)], seen, early


def seconds_until_quiet(folder: Path, seen: dict[str, Snapshot], quiet_seconds: float) -> float:
    """How long a look may wait to take the files it saw changing by the quiet rule: until
    the last of them that may be taken early has been quiet long enough, if that is within
    `SETTLE_SECONDS` (0: none to wait for). A file dropped just before a look is then taken
    at that look, not at the next one ~5 s later; one still being written after the wait is
    left for the next look, as before."""
    names = [name for name in seen if may_be_taken_early(name)]
    if quiet_seconds <= 0 or not names or (margin_ns := folder_time_margin_ns(folder)) is None:
        return 0.0
    now_ns, waits = time.time_ns(), [0.0]
    for name in names:
        try:
            stat = os.stat(folder / name)
        except OSError:
            continue
        wait_ns = quiet_seconds * 1e9 + margin_ns - untouched_ns(stat, now_ns)
        if 0 < wait_ns <= SETTLE_SECONDS * 1e9:  # quiet already (changed since the scan?): no wait
            waits.append(wait_ns / 1e9 + SETTLE_SLACK_SECONDS)
    return max(waits)


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


def processed_target(path: Path) -> Path:
    return unique_target(path.parent / PROCESSED, path.name)


def move_processed(path: Path, target: Path | None = None) -> Path:
    target = target or processed_target(path)
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
