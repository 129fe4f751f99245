"""A renderer started ahead of the run that will draw with it.

A warm run worker (`defs/runs/zygote.py`) is forked before its run is known and starts Chromium
while it waits, so a one-chart re-render does not wait ~0.7 s for a browser. The run's renderer
resource, built by Dagster from the run's config only later, takes it here: this module is the
one place the process keeps it between the two. Taken once, and only for the same settings.
"""

from __future__ import annotations

from typing import Any

from intelli_assets.rendering.engines import EngineRenderer

_waiting: tuple[dict[str, Any], EngineRenderer] | None = None
_in_warm_worker = False  # set by `defer_closing`: this process ends with its one run
_released: list[EngineRenderer] = []


def defer_closing() -> None:
    """This process ends with its one run (a warm worker): `release` closes renderers after it."""
    global _in_warm_worker
    _in_warm_worker = True


def prestart(settings: dict[str, Any]) -> None:
    """Start a renderer with `settings` (EngineRenderer's arguments) in the background."""
    global _waiting
    discard_prestarted()
    renderer = EngineRenderer(**settings)
    renderer.start_in_background()
    _waiting = (dict(settings), renderer)


def take_prestarted(settings: dict[str, Any]) -> EngineRenderer | None:
    """The renderer started ahead with these very settings, if its browser is still starting or
    alive; else None (one started with other settings, or whose browser died, is closed)."""
    global _waiting
    held, _waiting = _waiting, None
    if held is None:
        return None
    held_settings, renderer = held
    if held_settings == settings and not renderer.died_idle:
        return renderer
    renderer.close()
    return None


def release(renderer: EngineRenderer) -> None:
    """A run is done with its renderer: close it now or, in a warm worker, once the run has
    ended (`discard_prestarted`), so that killing Chromium and removing its profile (~0.2 s)
    does not hold up the run's end."""
    if _in_warm_worker:
        _released.append(renderer)
    else:
        renderer.close()


def discard_prestarted() -> None:
    """Close a renderer nobody took (a run that draws no chart) and the released ones."""
    global _waiting
    held, _waiting = _waiting, None
    if held is not None:
        _released.append(held[1])
    while _released:
        _released.pop().close()
