"""Progress of long runs, for whoever is watching (the command line shows it as bars).

Tasks report what they finished; with no listener installed (a schedule, a Dask worker) a report
costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable

Listener = Callable[[str, int, int | None], None]
_listeners: list[Listener] = []


def listen(listener: Listener) -> Callable[[], None]:
    """Call ``listener(stage, advance, total)`` on every report; returns the function that stops it."""
    _listeners.append(listener)
    return lambda: _listeners.remove(listener)


def advance(stage: str, by: int = 1, total: int | None = None) -> None:
    for listener in list(_listeners):
        listener(stage, by, total)
