"""Peak resident memory of the Python workers Spark starts under a process, sampled in the background."""

from __future__ import annotations

import threading

import psutil

SAMPLE_SECONDS = 0.2


class WorkerMemory:
    """Samples every descendant running pyspark's worker/daemon and keeps the largest RSS seen."""

    def __init__(self, root_pid: int) -> None:
        self.root_pid = root_pid
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def __enter__(self) -> WorkerMemory:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _sample(self) -> None:
        while not self._stop.is_set():
            try:
                children = psutil.Process(self.root_pid).children(recursive=True)
            except psutil.NoSuchProcess:
                return
            for child in children:
                try:
                    cmdline = " ".join(child.cmdline())
                    if "pyspark.daemon" in cmdline or "pyspark.worker" in cmdline:
                        self.peak_mb = max(self.peak_mb, child.memory_info().rss / 2**20)
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self._stop.wait(SAMPLE_SECONDS)
