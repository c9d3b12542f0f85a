"""Records of rendered outputs, committed in batches once their files are durable.

A generated output is renamed into place whole (``outputs.write_atomic(sync=False)``) and its
row waits here. A batch (``RECORD_BATCH`` rows, or ``RECORD_EVERY_S`` old) is made durable by one
sync of its files *in a background thread* while the next images are generated, and its rows are
committed in one transaction once that sync has returned: at the next batch, or when the build's
round ends (``flush(wait=True)``). So a record never names a file that is not whole on disk (a
kill before the commit leaves files without records, which the next build adopts by the recipe
they carry), and the sync is off the job path (it was 1-5 ms a job on a busy disk).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

# Generated outputs are recorded in batches (one sync, one transaction) of at most this many,
# or at least this often: a kill re-adopts at most two batches from the files.
RECORD_BATCH = 64
RECORD_EVERY_S = 2.0


class _Sync(threading.Thread):
    """Makes one batch's files durable; ``join`` then ``error`` says how it went."""

    def __init__(self, paths: list[Path]):
        super().__init__(name="assetforge-sync", daemon=True)
        self.paths = paths
        self.error: BaseException | None = None

    def run(self) -> None:
        from .outputs import sync_files

        try:
            sync_files(self.paths)
        except BaseException as e:  # noqa: BLE001 - re-raised by the committing thread
            self.error = e


class Recorder:
    """Pending rows of one builder; ``store`` gives its (lazily opened) database."""

    def __init__(self, store: Callable[[], Any]):
        self._store = store
        self._pending: list[tuple[Path | None, dict[str, Any]]] = []
        self._since = 0.0
        self._syncing: tuple[_Sync, list[dict[str, Any]]] | None = None

    def add(self, path: Path | None, row: dict[str, Any]) -> None:
        """Queue ``row`` (for the output at ``path``; None: a failure, no file)."""
        if not self._pending:
            self._since = time.perf_counter()
        self._pending.append((path, row))
        if (len(self._pending) >= RECORD_BATCH
                or time.perf_counter() - self._since >= RECORD_EVERY_S):
            self.flush()

    def flush(self, wait: bool = False) -> None:
        """Commit the batch whose sync was started before, start syncing the pending rows;
        ``wait``: and commit those too before returning (the end of a round)."""
        self._commit_synced()
        if self._pending:
            pending, self._pending = self._pending, []
            sync = _Sync([p for p, _row in pending if p is not None])
            sync.start()
            self._syncing = (sync, [row for _p, row in pending])
        if wait:
            self._commit_synced()

    def _commit_synced(self) -> None:
        if self._syncing is None:
            return
        sync, rows = self._syncing
        sync.join()
        self._syncing = None
        if sync.error is not None:
            raise sync.error
        self._store().insert_generations(rows)  # plain inserts of the columns: no ORM objects
