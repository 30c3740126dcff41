"""Peak resident memory of a spark-submit's processes, sampled in the background.

The driver is two processes: the JVM (spark-submit execs into it, so it keeps the pid we started) and the
Python driver it launches (the job script). The Python workers (pyspark's daemon and its forks) run the tasks.
"""

from __future__ import annotations

import threading
from pathlib import Path

import psutil

SAMPLE_SECONDS = 0.2
WORKER_MARKERS = ("pyspark.daemon", "pyspark.worker")


class WorkerMemory:
    """Keeps the largest RSS seen of any one worker, of the driver JVM and of the Python driver."""

    def __init__(self, root_pid: int, driver_script: str | None = None) -> None:
        self.root_pid = root_pid
        self.driver_script = driver_script
        self.peak_mb = 0.0
        self.jvm_peak_mb = 0.0
        self.driver_python_peak_mb = 0.0
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
                root = psutil.Process(self.root_pid)
                self.jvm_peak_mb = max(self.jvm_peak_mb, rss_mb(root))
                children = root.children(recursive=True)
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                return
            for child in children:
                try:
                    self._sample_child(child.cmdline(), rss_mb(child))
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    continue
            self._stop.wait(SAMPLE_SECONDS)

    def _sample_child(self, argv: list[str], mb: float) -> None:
        if any(marker in " ".join(argv) for marker in WORKER_MARKERS):
            self.peak_mb = max(self.peak_mb, mb)
        elif self.is_driver(argv):
            self.driver_python_peak_mb = max(self.driver_python_peak_mb, mb)

    def is_driver(self, argv: list[str]) -> bool:
        """The Python process running the job script (spark-class's launcher JVM names the script too)."""
        if not self.driver_script or not argv or not Path(argv[0]).name.startswith("python"):
            return False
        return any(self.driver_script in arg for arg in argv[1:])


def rss_mb(process: psutil.Process) -> float:
    return float(process.memory_info().rss) / 2**20
