"""`orchard year`: a year of operation on one local stack, simulated and measured.

Run 1 uploads ``images`` fruit images; every later run first changes the bucket as a year of use would (adds
1%, overwrites 0.2% with new content under the same key and deletes 0.5% of the images present, each at
least one image, chosen by a seeded random draw), then runs what the queue holds to the end. After each run
it measures (``orchard.year_measures``) the time, the images featurized, what the results prefix holds, where
each image ended, and the rows left of images deleted more than the retention ago: an image deleted before
run d ran was last published by run d-1, which retention retires once d-1 is older than the newest
``retain_runs`` runs, i.e. from run d + retain_runs - 1 on. Retention by age cannot be exercised here: run ids
carry the wall-clock time of their uploads, so a simulated year lasts minutes (the CLI's --retain-days
defaults to ten years so that only RetainRuns applies).
"""

from __future__ import annotations

import argparse
import io
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from orchard.local.flow import put_objects
from orchard.local.run import local_stack, run_queued
from orchard.local.stack import LocalStack
from orchard.local.state import save
from orchard.samples import fruit_image, labels
from orchard.year_measures import (
    Clock,
    accounting,
    bucket_images,
    clock_stack,
    expired_rows,
    mirror_usage,
    results_usage,
    run_reports,
)
from orchard.year_report import Figures, holds, print_summary, run_line, summarize, write_json
from orchard_contract.layout import MODELS_DATASET, RUNS_DATASET, S3Uri
from orchard_contract.tables import FEATURES, PCA, REJECTS

HISTORY = (PCA.dataset, REJECTS.dataset, MODELS_DATASET, RUNS_DATASET)  # what RetainRuns bounds


@dataclass(frozen=True)
class Year:
    runs: int = 100
    images: int = 2_000
    retain_runs: int = 10
    seed: int = 7
    added: float = 0.01
    overwritten: float = 0.002
    deleted: float = 0.005
    labels: int = 12

    def share(self, fraction: float, count: int) -> int:
        return max(1, round(fraction * count))


class Bucket:
    """The images as the simulation made them: the keys present, and the run before which each gone one was
    deleted."""

    def __init__(self, year: Year, bucket: str, prefix: str) -> None:
        self.year, self.bucket, self.prefix = year, bucket, prefix
        self.rng = random.Random(year.seed)
        self.present: list[str] = []
        self.deleted_before: dict[str, int] = {}
        self.made = 0

    def new(self, count: int) -> dict[str, bytes]:
        names = labels(self.year.labels)
        made = {}
        for _ in range(count):
            label = names[self.made % len(names)]
            made[f"{self.prefix}{label}/{self.made:06d}.jpg"] = self.image(label)
            self.made += 1
        self.present += list(made)
        return made

    def image(self, label: str) -> bytes:
        buffer = io.BytesIO()
        fruit_image(label, self.rng).save(buffer, format="JPEG", quality=90)
        return buffer.getvalue()

    def change(self, run: int) -> tuple[dict[str, bytes], list[str]]:
        """A later run's uploads (overwritten, then new) and deletions."""
        count, year = len(self.present), self.year
        deleted = self.rng.sample(self.present, min(count - 1, year.share(year.deleted, count)))
        gone = set(deleted)
        self.present = [key for key in self.present if key not in gone]
        self.deleted_before.update((key, run) for key in deleted)
        overwritten = self.rng.sample(self.present, year.share(year.overwritten, count))
        uploads = {key: self.image(key.removeprefix(self.prefix).split("/")[0]) for key in overwritten}
        return {**uploads, **self.new(year.share(year.added, count))}, deleted

    def expired(self, run: int) -> set[str]:
        """The s3:// URIs of images whose retention has passed by the end of this run."""
        last = run - self.year.retain_runs + 1
        return {str(S3Uri(self.bucket, key)) for key, d in self.deleted_before.items() if d <= last}


def run_year(stack: LocalStack, year: Year, each_run: Callable[[Figures], None]) -> list[Figures]:
    """Drive the stack through the year; ``each_run`` gets each run's figures as they come."""
    clock, s3 = clock_stack(stack), stack.client("s3")
    bucket = Bucket(year, stack.outputs["BucketName"], stack.resolver.parameter("ImagesPrefix"))
    figures: list[Figures] = []
    for run in range(1, year.runs + 1):
        uploads, deletions = (bucket.new(year.images), []) if run == 1 else bucket.change(run)
        put_objects(stack, uploads)
        for key in deletions:
            s3.delete_object(Bucket=bucket.bucket, Key=key)
        expired = bucket.expired(run)
        changes = {"uploaded": len(uploads), "deleted": len(deletions), "expired_images": len(expired)}
        figures.append({"run": run, **changes, **measured_run(stack, clock, expired)})
        each_run(figures[-1])
    return figures


def measured_run(stack: LocalStack, clock: Clock, expired: set[str]) -> Figures:
    """Run what the queue holds to the end, then measure."""
    clock.take()
    started = time.perf_counter()
    executions = run_queued(stack)
    flowed = time.perf_counter()
    save(stack)  # the local state's copy of the bucket, which queries read
    ended = time.perf_counter()
    seconds = clock.take()
    copy = seconds.get("copy", 0.0) + ended - flowed
    run_ids = [e.run_id for e in executions]
    present = bucket_images(stack)
    usage = results_usage(stack)
    reports = run_reports(stack, run_ids)
    return {
        "run_ids": run_ids,
        "failed": sum(e.status != "SUCCEEDED" for e in executions),
        "images": len(present),
        "wall_seconds": round(ended - started, 2),
        "run_seconds": round(ended - started - copy, 2),
        "job_seconds": round(seconds.get("job", 0.0), 2),
        "lambda_seconds": round(seconds.get("lambda", 0.0), 2),
        "emulator_copy_seconds": round(copy, 2),
        "featurized": sum(int(report["counts"]["featurized_this_run"]) for report in reports),
        "job_stages": reports[-1]["timings"] if reports else {},  # the job's own clock, by stage
        "results_objects": usage["objects"],
        "results_bytes": usage["bytes"],
        "history_objects": sum(usage["objects_by_dataset"].get(dataset, 0) for dataset in HISTORY),
        "objects_by_dataset": usage["objects_by_dataset"],
        "feature_cache_files": usage["objects_by_dataset"].get(FEATURES.dataset, 0),
        "mirror_results": mirror_usage(stack),
        **accounting(stack.state_dir, present),
        "expired_rows": expired_rows(stack, expired),
    }


def command(args: argparse.Namespace) -> int:
    """`orchard year` (flags: orchard.cli)."""
    plan = Year(runs=args.runs, images=args.images, retain_runs=args.retain_runs, seed=args.seed)
    settings = {"image_size": args.image_size, "retain_days": args.retain_days, "cores": args.cores}
    parameters = {"ImageSize": str(args.image_size), "Weights": "random",
                  "RetainRuns": str(args.retain_runs), "RetainDays": str(args.retain_days)}  # fmt: skip
    print(f"A year: {plan.runs} runs over {plan.images} images, each later run adding {plan.added:.1%}, "
          f"overwriting {plan.overwritten:.1%} and deleting {plan.deleted:.1%} of them; RetainRuns "
          f"{plan.retain_runs}, RetainDays {args.retain_days}, {args.image_size} px.",
          flush=True)  # fmt: skip
    figures: list[Figures] = []

    def each_run(run: Figures) -> None:
        print(run_line(run), flush=True)
        figures.append(run)
        if args.json:
            write_json(args.json, plan, settings, figures)

    with local_stack(args.state, parameters, fresh=True, cores=args.cores, echo=False) as stack:
        run_year(stack, plan, each_run)
    summary = summarize(figures, plan)
    print_summary(summary)
    if args.json:
        write_json(args.json, plan, settings, figures, summary)
    ok = holds(summary)
    print("Nothing lost, nothing twice, nothing kept past its retention." if ok else "FAILED: see above.")
    return 0 if ok else 1
