"""One measured run of each approach, the network ceiling, and the summary figures."""

from __future__ import annotations

import json
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from orchard.bench.monitor import WorkerMemory
from orchard.local.spark import FEATURIZE, environment, last_json_line, submit_command
from orchard.samples import fruit_image, write_samples

SEED_JOB = Path(__file__).with_name("seed_job.py")
VARIANCE = 0.95
RSS_KEYS = ("worker_peak_rss_mb", "driver_jvm_peak_rss_mb", "driver_python_peak_rss_mb")


def _submit(script: Path, args: list[str], cores: int) -> dict[str, Any]:
    started = time.perf_counter()
    process = subprocess.Popen(
        submit_command(script, args, cores),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=environment(),
        text=True,
    )
    with WorkerMemory(process.pid, str(script)) as memory:
        stdout, stderr = process.communicate()
    if process.returncode != 0:
        sys.stderr.write(stderr[-5000:])
        raise RuntimeError(f"{script.name} failed with exit code {process.returncode}")
    last = last_json_line(stdout)
    return {
        "wall_s": time.perf_counter() - started,
        "worker_peak_rss_mb": round(memory.peak_mb, 1),
        "driver_jvm_peak_rss_mb": round(memory.jvm_peak_mb, 1),
        "driver_python_peak_rss_mb": round(memory.driver_python_peak_mb, 1),
        **last,
    }


def seed(images: Path, out: Path, size: int, cores: int) -> dict[str, Any]:
    shutil.rmtree(out, ignore_errors=True)
    run = _submit(SEED_JOB, [str(images), str(out), str(size), str(VARIANCE)], cores)
    return {**run, "job_s": run["seconds"]}


def orchard(
    images: Path, out: Path, size: int, cores: int, fresh: bool, run_id: str | None = None
) -> dict[str, Any]:
    if fresh:  # a first run: everything but the exported network (built once per model, like an image bake)
        for child in out.glob("*"):
            if child.name != "_artifacts":
                shutil.rmtree(child)
    run_id = run_id or f"bench-{time.time_ns()}"
    args = ["--input", str(images), "--output", str(out), "--run-id", run_id, "--weights", "random"]
    run = _submit(FEATURIZE, [*args, "--image-size", str(size), "--variance", str(VARIANCE)], cores)
    report = json.loads(Path(run["report"].removeprefix("file:")).read_text())
    return {**run, "job_s": report["timings"]["total"], "report": report}


def warm_artifact(images: Path, out: Path, size: int, cores: int) -> None:
    """Export the network once (cached under <output>/_artifacts), as the EMR image does at build time."""
    if not any(out.glob(f"_artifacts/*{size}px*.tflite")):
        orchard(images, out, size, cores, fresh=True)


def sample_set(workdir: Path, labels: int, per_label: int) -> Path:
    """The synthetic images for a size, written once per workdir (whole or not at all) and reused after."""
    images = workdir / f"images-{labels}x{per_label}"
    if not images.exists():
        partial = workdir / f"{images.name}.partial"
        shutil.rmtree(partial, ignore_errors=True)
        write_samples(partial, per_label, labels, corrupt=False)
        partial.rename(images)
    return images


@contextmanager
def added_images(images: Path, count: int) -> Iterator[list[Path]]:
    """`count` new images in the existing label folders (seeded: the same files every time), removed after.

    No new label: a rerun that adds images to known labels is what may keep its PCA basis.
    """
    rng = random.Random(2024)
    folders = sorted(path for path in images.iterdir() if path.is_dir())
    added = []
    try:
        for index in range(count):
            folder = folders[rng.randrange(len(folders))]
            path = folder / f"added_{index:05d}.jpg"
            fruit_image(folder.name, rng).save(path, format="JPEG", quality=90)
            added.append(path)
        yield added
    finally:
        for path in added:
            path.unlink(missing_ok=True)


def ceiling(
    images: Path, out: Path, size: int, cores: int, max_images: int = 0, chunk: int = 1024
) -> dict[str, Any]:
    artifact = next(out.glob(f"_artifacts/*{size}px*.tflite"))
    command = [
        sys.executable,
        "-m",
        "orchard.bench.ceiling",
        str(artifact),
        str(images),
        str(size),
        str(cores),
        str(max_images),
        str(chunk),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=True, env=environment())
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))


def show(name: str, run: dict[str, Any], n_images: int) -> None:
    line = f"{name:<22} job {run['job_s']:7.1f} s ({n_images / run['job_s']:6.1f} img/s)"
    line += f"  wall {run['wall_s']:7.1f} s  peak RSS: worker {run['worker_peak_rss_mb']:4.0f} MB, driver JVM"
    line += (
        f" {run['driver_jvm_peak_rss_mb']:4.0f} MB, Python driver {run['driver_python_peak_rss_mb']:4.0f} MB"
    )
    if "report" in run:
        timings = run["report"]["timings"]
        line += "  stages " + " ".join(f"{k}={v:.1f}" for k, v in timings.items() if k != "total")
    print(line, flush=True)


def summarize(
    n_images: int,
    size: int,
    seed_runs: list[dict[str, Any]],
    orchard_runs: list[dict[str, Any]],
    rerun: dict[str, Any],
    network: dict[str, Any],
) -> dict[str, Any]:
    orchard_s = statistics.median(run["job_s"] for run in orchard_runs)
    featurize_s = statistics.median(run["report"]["timings"]["featurize"] for run in orchard_runs)
    seed_s = statistics.median(run["job_s"] for run in seed_runs) if seed_runs else None
    figures: dict[str, Any] = {
        "n_images": n_images,
        "image_size": size,
        "runtime": orchard_runs[0]["report"]["runtime"],
        "seed_img_s": round(n_images / seed_s, 2) if seed_s else None,
        "orchard_img_s": round(n_images / orchard_s, 2),
        "ratio_vs_seed": round(seed_s / orchard_s, 2) if seed_s else None,
        "featurize_img_s": round(n_images / featurize_s, 2),
        "ceiling_img_s": round(network["img_s"], 2),
        "featurize_vs_ceiling": round(n_images / featurize_s / network["img_s"], 3),
        "worker_peak_rss_mb": max(run["worker_peak_rss_mb"] for run in orchard_runs),
        "driver_jvm_peak_rss_mb": max(run["driver_jvm_peak_rss_mb"] for run in orchard_runs),
        "driver_python_peak_rss_mb": max(run["driver_python_peak_rss_mb"] for run in orchard_runs),
        "seed_worker_peak_rss_mb": max((run["worker_peak_rss_mb"] for run in seed_runs), default=None),
        "rerun_1pct_s": round(rerun["job_s"], 2),
        "rerun_vs_full": round(rerun["job_s"] / orchard_s, 3),
        "rerun_counts": rerun["report"]["counts"],
        "orchard_job_s": [round(run["job_s"], 2) for run in orchard_runs],
        "orchard_wall_s": [round(run["wall_s"], 2) for run in orchard_runs],
        "seed_job_s": [round(run["job_s"], 2) for run in seed_runs],
        "seed_wall_s": [round(run["wall_s"], 2) for run in seed_runs],
        "orchard_stage_s": orchard_runs[-1]["report"]["timings"],
        "k": orchard_runs[-1]["report"]["k"],
        "ceiling": network,
    }
    return figures


def pca_only(rows: int, cores: int, workdir: Path) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "orchard.bench.pca_only",
        str(rows),
        str(cores),
        str(workdir / "pca-only"),
    ]
    result = subprocess.run(command, capture_output=True, text=True, env=environment(), check=False)
    if result.returncode != 0:
        sys.stderr.write(result.stderr[-5000:])
        raise RuntimeError("pca-only benchmark failed")
    return dict(json.loads(result.stdout.strip().splitlines()[-1]))
