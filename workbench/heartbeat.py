"""A background job's heartbeat: a thread that calls `beat` every few seconds on its own database connection, so a
step that holds the worker's main thread for a minute (a detector, a training epoch) never looks like a dead worker
to the reaper. A failed beat (a locked database) is logged and skipped, never fatal to the job."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from django.db import connection

logger = logging.getLogger(__name__)


class Heartbeat(threading.Thread):
    def __init__(self, beat: Callable[[], object], *, seconds: float, name: str) -> None:
        super().__init__(daemon=True, name=name)
        self.beat, self.seconds = beat, seconds
        self.stopped = threading.Event()

    def run(self) -> None:
        try:
            while not self.stopped.wait(self.seconds):
                try:
                    self.beat()
                except Exception:  # noqa: BLE001 - a locked database misses one beat, not the job
                    logger.warning("%s: heartbeat failed", self.name, exc_info=True)
        finally:
            connection.close()

    def stop(self) -> None:
        """Stop beating; no beat lands after this returns (unless the thread is stuck in one for 2 periods)."""
        self.stopped.set()
        self.join(timeout=self.seconds * 2)
