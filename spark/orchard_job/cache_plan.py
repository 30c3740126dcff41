"""The feature cache's plan, decided on the driver from a small index of the cache (no vectors, no Spark).

Lookup order: the same (path, size, modified) with the same network id is reused without reading the file,
unless the run's manifest names the path (just uploaded: it may be an overwrite within the same second);
otherwise the file is read and hashed, and content featurized before with this network (same sha256) is
re-keyed under the new path; only content never featurized with this network reaches the network.
feature_cache carries the plan out with Spark: it reads the index and the hashes, then writes the rows.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Image is a plain dataclass; the plan needs nothing else from the Spark side
    from orchard_job.listing import Image

Key = tuple[str, int, int]  # (path, size, modified_us): Image.key


@dataclass(frozen=True)
class CacheIndex:
    rows: dict[Key, dict[str, str]]  # key -> {content_sha256: run_id} of the cached rows under it
    hashes: set[str]  # every cached content

    @classmethod
    def of(cls, rows: Iterable[tuple[str, int, int, str, str]]) -> CacheIndex:
        """From cached rows' (path, size, modified_us, content_sha256, run_id)."""
        index: dict[Key, dict[str, str]] = {}
        for path, size, modified_us, sha, run_id in rows:
            index.setdefault((path, size, modified_us), {})[sha] = run_id
        return cls(index, {sha for by_hash in index.values() for sha in by_hash})


@dataclass(frozen=True)
class Lookup:
    trusted: list[Image]  # same key as a cached row, not just uploaded: reused unread
    to_read: list[Image]  # to hash: reused, re-keyed or featurized depending on their content


@dataclass(frozen=True)
class CachePlan:
    reused: list[Image]  # take a cached row under their own key
    rekeyed: list[tuple[Image, str]]  # content cached under another key (its sha256): the row is copied
    fresh: list[Image]  # content never featurized with this network: decoded and run through it
    row_runs: dict[str, str]  # path -> the run whose cached row each reused image takes

    @property
    def writing(self) -> list[Image]:
        """The images that get a row in this run's folder (fresh ones that decode, and re-keyed ones)."""
        return [*self.fresh, *(image for image, _ in self.rekeyed)]

    def row_runs_after(self, run_id: str, failed: set[str]) -> dict[str, str]:
        """path -> the run whose row each image takes once this run wrote its rows (failed: none)."""
        written = [image.path for image in self.writing if image.path not in failed]
        return self.row_runs | dict.fromkeys(written, run_id)


def look_up(images: list[Image], index: CacheIndex, uploaded: frozenset[str] = frozenset()) -> Lookup:
    trusted = [image.key in index.rows and image.path not in uploaded for image in images]
    return Lookup(
        [image for image, ok in zip(images, trusted, strict=True) if ok],
        [image for image, ok in zip(images, trusted, strict=True) if not ok],
    )


def decide(lookup: Lookup, hashes: dict[str, str], index: CacheIndex) -> CachePlan:
    """The plan once the files to read are hashed (`hashes`: path -> sha256; unread paths are absent)."""
    reused, rekeyed, fresh = list(lookup.trusted), [], []
    for image in lookup.to_read:
        sha = hashes.get(image.path)
        if sha in index.rows.get(image.key, {}):
            reused.append(image)
        elif sha is not None and sha in index.hashes:
            rekeyed.append((image, sha))
        else:
            fresh.append(image)
    return CachePlan(reused, rekeyed, fresh, row_runs(reused, index, hashes))


def row_runs(images: list[Image], index: CacheIndex, hashes: dict[str, str]) -> dict[str, str]:
    """path -> the run whose cached row each reused image takes.

    That is the row of the content read, when this run read the file; otherwise the newest run's row (default
    run ids sort by time), in case an overwrite that kept the key left rows of two runs under it.
    """
    runs = {}
    for image in images:
        by_hash = index.rows[image.key]
        sha = hashes.get(image.path)
        runs[image.path] = by_hash[sha] if sha in by_hash else max(by_hash.values())
    return runs


def clashes(plan: CachePlan, index: CacheIndex, run_id: str) -> list[str]:
    """Paths this run would write a second row for under a key it already holds a row for.

    Rows are appended: a second row under a key this run id already holds would name two contents at once
    (an overwrite that kept size and modification time, retried under the same run id).
    """
    return [image.path for image in plan.writing if run_id in index.rows.get(image.key, {}).values()]
