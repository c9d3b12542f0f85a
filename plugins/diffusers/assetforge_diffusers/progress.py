"""Silence diffusers' and transformers' loading/saving progress bars for a while.

A build prints its own progress; per-component "Loading weights" bars from every model load
would bury it. The previous state is restored, so other code in the process is unaffected.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def quiet() -> Iterator[None]:
    from diffusers.utils import logging as dlog
    from transformers.utils import logging as tlog

    was = (dlog.is_progress_bar_enabled(), tlog.is_progress_bar_enabled())
    dlog.disable_progress_bar()
    tlog.disable_progress_bar()
    try:
        yield
    finally:
        if was[0]:
            dlog.enable_progress_bar()
        if was[1]:
            tlog.enable_progress_bar()
