"""A headless Chromium driven over the DevTools protocol on a pipe (no network port).

Chromium's `--remote-debugging-pipe` reads NUL-terminated JSON commands on fd 3 and writes
replies and events on fd 4. One command at a time is all the renderer needs, so this client
is synchronous: write, then read until the reply with the same id arrives. The events read
meanwhile are dropped, except those saying a page we attached to is gone (its renderer
process crashed or was killed, or the target closed): a command to a dead page never gets a
reply, so waiting for one would last until the timeout.
"""

from __future__ import annotations

import base64
import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from intelli_assets.errors import IntelliError

BROWSER_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome")
# no first-run, no background traffic: this machine's network is closed, and charts need none
CHROMIUM_FLAGS = (
    "--headless=new",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-extensions",
    "--disable-default-apps",
    "--disable-quic",
    "--mute-audio",
    "--hide-scrollbars",
    "--allow-file-access-from-files",
    "--remote-debugging-pipe",
    # headless Chromium (156 here) preloads the omnibox popup's WebUI in a renderer of its own: ~1 CPU-s
    # at every start for a window no one sees; a spare renderer is another process never used
    "--disable-features=WebUIOmniboxPopup,WebUIOmniboxAimPopup,PreloadTopChromeWebUI,"
    "SpareRendererForSitePerProcess,Translate,OptimizationHints,MediaRouter",
)


FD_WRAPPER = (
    "import os, sys\n"
    "r, w = int(sys.argv[1]), int(sys.argv[2])\n"
    "os.dup2(r, 3) if r != 3 else None\n"
    "os.dup2(w, 4) if w != 4 else None\n"
    "[os.close(fd) for fd in (r, w) if fd not in (3, 4)]\n"
    "os.execv(sys.argv[3], sys.argv[3:])\n"
)


# events that mean a page (target) is gone; Inspector.targetCrashed needs `Inspector.enable` in
# the page's session, the Target.* ones `Target.setDiscoverTargets` (see `open_page`)
PAGE_GONE_EVENTS = {
    "Inspector.targetCrashed": "renderer crashed",
    "Target.targetCrashed": "renderer crashed",
    "Target.detachedFromTarget": "was detached",
    "Target.targetDestroyed": "was closed",
}


def owned_tempdir(prefix: str) -> str:
    """A new temporary folder named after this process (`<prefix><pid>-…`), after removing
    the ones whose process is gone: a run killed with SIGKILL cannot clean up after itself,
    and each Chromium profile left behind is a few MB."""
    for stale in Path(tempfile.gettempdir()).glob(f"{prefix}*-*"):
        pid = stale.name[len(prefix):].split("-", 1)[0]
        if pid.isdigit() and not process_exists(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return tempfile.mkdtemp(prefix=f"{prefix}{os.getpid()}-")


def process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


class BrowserError(IntelliError):
    """Chromium is missing, died, or did not answer in time."""


class BrowserTimeout(BrowserError):
    """Chromium did not answer a command in time (it may hang, not just be slow)."""


class PageError(IntelliError):
    """A page to print did not load, or its own script failed (the browser itself is fine)."""


def no_answer(executable: str, seconds: float) -> BrowserError:
    """The error for a browser that never answered when started: most likely not a working
    Chromium at all (a wrapper that hangs, a wrong BROWSER_PATH)."""
    return BrowserError(f"the browser at {executable} did not answer within {seconds:.0f} s; "
                        "check BROWSER_PATH or the Chromium install")


# Chromium's singleton socket, `$TMPDIR/org.chromium.Chromium.XXXXXX/SingletonSocket`, must fit
# a Unix socket path (104 bytes on macOS, 108 on Linux), or the browser exits at start
SOCKET_IN_TMPDIR = "/org.chromium.Chromium.XXXXXX/SingletonSocket"
MAX_SOCKET_PATH = 100


def chromium_env(tmpdir: str) -> dict[str, str]:
    """The environment for a Chromium whose own temporary folders (its `org.chromium.Chromium.*`
    singleton folder, which a killed browser leaves behind) go into `tmpdir`, one of ours; the
    usual TMPDIR if `tmpdir` is too long a path for the socket in it."""
    if len(os.fsencode(tmpdir + SOCKET_IN_TMPDIR)) > MAX_SOCKET_PATH:
        return dict(os.environ)
    return {**os.environ, "TMPDIR": tmpdir}


def find_chromium() -> str:
    """Path of a Chromium/Chrome binary: $BROWSER_PATH (kaleido's variable) first, then PATH."""
    explicit = os.environ.get("BROWSER_PATH")
    if explicit:
        if Path(explicit).is_file() and os.access(explicit, os.X_OK):
            return explicit
        raise BrowserError(f"BROWSER_PATH={explicit!r} is not an executable file")
    for name in BROWSER_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError(
        "no Chromium found for rendering charts; install one (Debian/Ubuntu: "
        "`apt-get install -y chromium`, macOS: install Google Chrome) or set BROWSER_PATH"
    )


class ChromiumPipe:
    """One Chromium process and its DevTools pipe."""

    def __init__(self, executable: str | None = None, timeout: float = 30.0):
        self.executable = executable or find_chromium()
        self.timeout = timeout
        self.process: subprocess.Popen | None = None
        self._next_id = 0
        self._buffer = b""
        self._discovering = False
        self._targets: dict[str, str] = {}  # session id -> target id of the pages we attached to
        self._gone: dict[str, str] = {}  # session id -> why its page is gone
        self.pipe_closed = False  # its end of the pipe closed: it exited, or is about to

    def start(self) -> None:
        if not (Path(self.executable).is_file() and os.access(self.executable, os.X_OK)):
            # else the wrapper's exec fails, and all we would see is a closed pipe
            raise BrowserError(f"{self.executable!r} is not an executable file")
        # the profile and Chromium's TMPDIR in one owned folder: close() (or the sweep of dead
        # owners, after a SIGKILL) removes both
        self._profile = owned_tempdir("intelli-chromium-")
        to_child_r, self._to_child_w = os.pipe()
        self._from_child_r, from_child_w = os.pipe()
        args = [self.executable, *CHROMIUM_FLAGS, f"--user-data-dir={Path(self._profile, 'profile')}"]
        if os.geteuid() == 0:
            args.append("--no-sandbox")  # Chromium refuses to run sandboxed as root
        args.append("about:blank")
        try:
            # A tiny Python wrapper moves the pipe ends to fds 3/4 and execs Chromium. Doing it
            # in preexec_fn instead races with other threads opening and closing fds.
            self.process = subprocess.Popen(  # noqa: S603 - fixed argv, no shell
                [sys.executable, "-I", "-S", "-c", FD_WRAPPER, str(to_child_r), str(from_child_w), *args],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                env=chromium_env(self._profile),
                pass_fds=(to_child_r, from_child_w),
                start_new_session=True,  # its own process group: close() kills every child
            )
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._next_id = 0
        self._buffer = b""
        self._discovering = False
        self._targets.clear()
        self._gone.clear()
        self.pipe_closed = False

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def open_page(self, url: str = "about:blank") -> str:
        """A new tab on `url`, attached; its session id. A command sent to it fails at once with
        BrowserError if the tab's renderer process dies (before or while it runs)."""
        if not self._discovering:  # once per browser: Target.targetCrashed/targetDestroyed events
            self.send("Target.setDiscoverTargets", {"discover": True})
            self._discovering = True
        target_id = self.send("Target.createTarget", {"url": url})["targetId"]
        session_id = self.send("Target.attachToTarget", {"targetId": target_id, "flatten": True})["sessionId"]
        self._targets[session_id] = target_id
        self.send("Inspector.enable", session_id=session_id)  # Inspector.targetCrashed events
        return session_id

    def send(self, method: str, params: dict | None = None, session_id: str | None = None,
             timeout: float | None = None) -> dict:
        if not self.alive:
            raise BrowserError("Chromium is not running")
        self._raise_if_gone(session_id, method)
        self._next_id += 1
        message: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if session_id:
            message["sessionId"] = session_id
        data = json.dumps(message).encode() + b"\0"
        try:
            while data:
                data = data[os.write(self._to_child_w, data):]
        except OSError as exc:
            raise BrowserError(f"Chromium pipe closed while sending {method}: {exc}") from None
        return self._read_reply(self._next_id, method, timeout or self.timeout, session_id)

    def _read_reply(self, wanted: int, method: str, timeout: float, session_id: str | None) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buffer:
                raw, self._buffer = self._buffer.split(b"\0", 1)
                message = json.loads(raw)
                if message.get("id") != wanted:  # an event, or the late reply of a command given up on
                    self._note_page_gone(message)
                    self._raise_if_gone(session_id, method)
                    continue
                if "error" in message:
                    raise BrowserError(f"{method} failed: {message['error'].get('message')}")
                return message.get("result", {})
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise BrowserTimeout(f"Chromium did not answer {method} within {timeout:.0f} s")
            ready, _, _ = select.select([self._from_child_r], [], [], min(remaining, 1.0))
            if not ready:
                if not self.alive:
                    raise BrowserError(f"Chromium exited (code {self.process.returncode}) during {method}")
                continue
            chunk = os.read(self._from_child_r, 1 << 20)
            if not chunk:
                self.pipe_closed = True
                raise BrowserError(f"Chromium closed its pipe during {method}")
            self._buffer += chunk

    def _note_page_gone(self, event: dict) -> None:
        method, params = event.get("method", ""), event.get("params", {})
        if method not in PAGE_GONE_EVENTS:
            return
        if method == "Inspector.targetCrashed":  # sent in the crashed page's own session
            session_id = event.get("sessionId")
        elif method == "Target.detachedFromTarget":
            session_id = params.get("sessionId")
        else:  # Target.targetCrashed, Target.targetDestroyed: browser-level, by target id
            session_id = next((s for s, t in self._targets.items() if t == params.get("targetId")), None)
        if session_id in self._targets:
            self._gone.setdefault(session_id, PAGE_GONE_EVENTS[method])

    @property
    def pages_gone(self) -> bool:
        """A page we attached to is gone (its renderer crashed or was killed, or it closed)."""
        return bool(self._gone)

    def _raise_if_gone(self, session_id: str | None, method: str) -> None:
        if session_id in self._gone:
            raise BrowserError(f"Chromium's page {self._gone[session_id]} during {method}")

    def print_to_pdf(self, url: str, ready: str, params: dict, timeout: float) -> bytes:
        """The PDF of `url`, printed with `Page.printToPDF` in a tab of its own (closed afterwards):
        the pages already open, and the browser, are left as they are. The tab has print media
        from the start (`matchMedia('print')` holds while the page loads). `ready` is a JavaScript
        expression (a promise is awaited) polled until it gives `true`: the page has drawn what it
        draws. A page that fails to load, or whose `ready` throws, raises PageError."""
        session = self.open_page()
        try:  # print media from the start: a page that lays itself out for paper does it once
            self.send("Emulation.setEmulatedMedia", {"media": "print"}, session)
            navigated = self.send("Page.navigate", {"url": url}, session)
            if navigated.get("errorText"):
                raise PageError(f"cannot open {url}: {navigated['errorText']}")
            deadline = time.monotonic() + timeout
            while True:
                reply = self.send("Runtime.evaluate", {"expression": ready, "awaitPromise": True,
                                                       "returnByValue": True}, session, timeout=timeout)
                if "exceptionDetails" in reply:
                    details = reply["exceptionDetails"]
                    text = details.get("exception", {}).get("description") or details.get("text")
                    raise PageError(f"{url} failed before printing: {str(text).splitlines()[0]}")
                if reply.get("result", {}).get("value") is True:
                    break
                if time.monotonic() > deadline:
                    raise BrowserTimeout(f"{url} was not ready to print within {timeout:.0f} s")
                time.sleep(0.05)
            printed = self.send("Page.printToPDF", {**params, "transferMode": "ReturnAsBase64"}, session,
                                timeout=timeout)
            return base64.b64decode(printed["data"])
        finally:
            target_id = self._targets.pop(session, None)
            if target_id is not None and self.alive:
                try:
                    self.send("Target.closeTarget", {"targetId": target_id})
                except BrowserError:
                    pass  # a dead tab: nothing to close

    def close(self) -> None:
        """Kill Chromium and its children. No graceful Browser.close: the profile is a throwaway
        temporary folder, and waiting for Chromium to wind down costs ~0.1 s per run. Nor is the
        killed browser waited for (the kernel takes ~0.15 s to tear it down): a thread reaps it."""
        if self.process is None:
            return
        try:  # the whole session: renderer and zygote children too
            os.killpg(self.process.pid, 9)
        except (ProcessLookupError, PermissionError):
            pass
        threading.Thread(target=self.process.wait, name="chromium-reaper", daemon=True).start()
        for fd in (self._to_child_w, self._from_child_r):
            try:
                os.close(fd)
            except OSError:
                pass
        shutil.rmtree(self._profile, ignore_errors=True)
        self.process = None
