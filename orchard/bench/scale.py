"""`--scale`: every figure of issue 16's table in one invocation.

Per size, the network ceiling is measured before the first round and after each round; a round is a full
run then a rerun after +1% (new images in the existing labels, removed after). A round's ratios to the ceiling
use the mean of the two ceilings measured just before and just after it; a figure is the median over rounds.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
from pathlib import Path
from typing import Any

from orchard.bench import measure, targets

CEILING_RULE = "round i's ratios use the mean of the ceilings measured just before and just after round i"
SEED_IMAGES, SEED_LABELS = 2400, 24
DEFAULT_PCA_ROWS = 100_000
# The rerun's stages an unchanged image costs: the listing, the cache lookup, and the projection or the copy
# of its published row (a stage named with "copy", when the job keeps its basis).
UNCHANGED_STAGES = ("list", "cache_lookup", "pca_project")


def scale_bench(args: argparse.Namespace, json_path: Path) -> dict[str, Any]:
    figures: dict[str, Any] = {"labels": args.labels, "image_size": args.image_size, "cores": args.cores,
                               "rounds": args.rounds, "ceiling_images": args.ceiling_images,
                               "ceiling_rule": CEILING_RULE, "sizes": {}}  # fmt: skip
    for size in args.sizes:
        measured = one_size(args, size)
        figures["sizes"][str(measured["n_images"])] = measured  # labels x per label: the count that ran
        save(figures, json_path)  # what is measured survives a later failure
    figures["pca_only"] = measure.pca_only(args.pca_only or DEFAULT_PCA_ROWS, args.cores, args.workdir)
    print(
        f"scale + PCA on {figures['pca_only']['pca_rows']:,} x 1280: {figures['pca_only']['scale_pca_s']} s"
    )
    save(figures, json_path)
    figures["seed"] = None if args.skip_seed else seed_comparison(args)
    figures["bench_peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    figures["derived"] = targets.derive(figures)
    figures["table"] = targets.table(figures)
    return figures


def one_size(args: argparse.Namespace, size: int) -> dict[str, Any]:
    per_label = max(1, size // args.labels)
    images = measure.sample_set(args.workdir, args.labels, per_label)
    n_images, out = per_label * args.labels, args.workdir / "out" / "orchard"
    print(f"== {n_images:,} images ({args.labels} labels x {per_label}) ==", flush=True)
    measure.warm_artifact(images, out, args.image_size, args.cores)
    ceilings = [ceiling(args, images, out)]
    rounds = []
    for number in range(1, args.rounds + 1):
        full = measure.orchard(images, out, args.image_size, args.cores, fresh=True)
        measure.show(f"round {number} full", full, n_images)
        with measure.added_images(images, max(1, n_images // 100)) as added:
            rerun = measure.orchard(images, out, args.image_size, args.cores, fresh=False)
        measure.show(f"round {number} rerun +{len(added)}", rerun, n_images + len(added))
        show_basis(rerun["report"])
        ceilings.append(ceiling(args, images, out))
        rounds.append(round_figures(n_images, full, rerun, (ceilings[-2], ceilings[-1])))
    return size_figures(n_images, rounds, ceilings)


def round_figures(
    n_images: int, full: dict[str, Any], rerun: dict[str, Any], around: tuple[dict[str, Any], ...]
) -> dict[str, Any]:
    ceiling = statistics.mean(c["img_s"] for c in around)
    full_report, rerun_report = full["report"], rerun["report"]
    featurize_s = full_report["timings"]["featurize"]
    featurized = full_report["counts"]["featurized_this_run"]
    unchanged = rerun_report["counts"]["reused_from_cache"]
    unchanged_s = {
        stage: seconds
        for stage, seconds in rerun_report["timings"].items()
        if stage in UNCHANGED_STAGES or "copy" in stage
    }
    unchanged_ms = 1000 * sum(unchanged_s.values()) / max(unchanged, 1)
    featurized_ms = 1000 * featurize_s / max(featurized, 1)
    return {
        "ceiling_img_s": round(ceiling, 2),
        "featurize_vs_ceiling": round(featurized / featurize_s / ceiling, 3),
        "job_vs_ceiling": round(n_images / full["job_s"] / ceiling, 3),
        "full_s": round(full["job_s"], 2),
        "rerun_s": round(rerun["job_s"], 2),
        "rerun_vs_full": round(rerun["job_s"] / full["job_s"], 3),
        "unchanged": unchanged,
        "unchanged_stage_s": unchanged_s,
        "unchanged_ms": round(unchanged_ms, 4),
        "featurized_ms": round(featurized_ms, 4),
        "unchanged_vs_featurized": round(unchanged_ms / featurized_ms, 4),
        "full_stage_s": full_report["timings"],
        "rerun_stage_s": rerun_report["timings"],
        "rerun_counts": rerun_report["counts"],
        "rerun_basis": rerun_report.get("basis"),
        **{key: max(full[key], rerun[key]) for key in measure.RSS_KEYS},
    }


def size_figures(
    n_images: int, rounds: list[dict[str, Any]], ceilings: list[dict[str, Any]]
) -> dict[str, Any]:
    medians = ("featurize_vs_ceiling", "job_vs_ceiling", "full_s", "rerun_s", "rerun_vs_full", "unchanged",
               "unchanged_ms", "featurized_ms", "unchanged_vs_featurized", "ceiling_img_s")  # fmt: skip
    return {
        "n_images": n_images,
        **{key: statistics.median(r[key] for r in rounds) for key in medians},
        **{key: max(r[key] for r in rounds) for key in measure.RSS_KEYS},
        "ceiling_peak_rss_mb": max(c["peak_rss_mb"] for c in ceilings),
        "ceilings": ceilings,
        "rounds": rounds,
    }


def seed_comparison(args: argparse.Namespace) -> dict[str, Any]:
    images = measure.sample_set(args.workdir, SEED_LABELS, SEED_IMAGES // SEED_LABELS)
    out = args.workdir / "out"
    measure.warm_artifact(images, out / "orchard", args.image_size, args.cores)
    seed_s, orchard_s = [], []
    for number in range(1, args.rounds + 1):
        seed = measure.seed(images, out / "seed", args.image_size, args.cores)
        measure.show(f"round {number} seed", seed, SEED_IMAGES)
        orchard = measure.orchard(images, out / "orchard", args.image_size, args.cores, fresh=True)
        measure.show(f"round {number} orchard", orchard, SEED_IMAGES)
        seed_s.append(round(seed["job_s"], 2))
        orchard_s.append(round(orchard["job_s"], 2))
    ratio = statistics.median(seed_s) / statistics.median(orchard_s)
    return {"n_images": SEED_IMAGES, "seed_job_s": seed_s, "orchard_job_s": orchard_s,
            "ratio_vs_seed": round(ratio, 2)}  # fmt: skip


def ceiling(args: argparse.Namespace, images: Path, out: Path) -> dict[str, Any]:
    measured = measure.ceiling(
        images, out, args.image_size, args.cores, args.ceiling_images, args.ceiling_chunk
    )
    show_ceiling(measured)
    return measured


def show_ceiling(measured: dict[str, Any]) -> None:
    sample = f"{measured['images']:,} of {measured['available']:,} images"
    chunks = f"{measured['chunks']} chunks of {measured['chunk_images']}"
    line = f"ceiling {measured['img_s']:7.1f} img/s on {sample} ({chunks}"
    print(f"{line}, peak RSS {measured['peak_rss_mb']:.0f} MB)", flush=True)


def show_basis(report: dict[str, Any]) -> None:
    basis = report.get("basis")
    if basis:
        decision, reason = str(basis.get("decision")), str(basis.get("reason"))
        said = reason if reason.startswith(decision) else f"{decision}: {reason}"
        print(f"  rerun basis: {said} (basis {basis.get('basis_id')}, policy {basis.get('policy')})")


def save(figures: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(figures, indent=2))
