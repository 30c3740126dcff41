"""`orchard similar PHOTO [--top N] [--run ID] [--stack NAME]`: recognise a fruit from a photo.

The photo goes through the run's own pipeline: the job's decoder (orchard_job.decode), the network of the
run's model id (orchard.similar_network), then the scaler and PCA basis of the run's model file
(``<results>/models/run_id=<id>/``, written by orchard_job.report). Its vector is compared with the run's
``pca`` rows (Euclidean), and the labels of the nearest ones vote. Where the model, network and vectors come
from (the local stack's files, or a deployed stack's S3 and Athena) is a RunSource (orchard.similar_sources).
"""

from __future__ import annotations

import argparse
import io
import json
import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from orchard.errors import UserError, existing_file
from orchard.similar_sources import RunSource, Vectors, open_source
from orchard_contract.images import is_image
from orchard_contract.layout import MODELS_DATASET, run_path
from orchard_job.decode import DecodeError, decode_image
from orchard_job.runtime import Featurizer

if TYPE_CHECKING:  # orchard_job.pca brings pyspark: imported when a model is loaded, not by `orchard --help`
    from orchard_job.pca import PcaModel

VOTERS = 5  # the nearest images whose labels vote
ARRAYS = ("mean", "std", "components", "explained_variance")  # in both files; the arrays come from pca.npz
RUN_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")  # orchard_job.config: run ids name folders


@dataclass(frozen=True)
class RunModel:
    """A run's model file: the network it names and the scaler + basis that project its features."""

    run_id: str
    description: dict[str, Any]  # model.json without its arrays
    pca: PcaModel

    @property
    def model_id(self) -> str:
        return str(self.description["model_id"])


@dataclass(frozen=True)
class Neighbour:
    path: str
    label: str
    distance: float


@dataclass(frozen=True)
class Answer:
    run_id: str
    model_id: str
    vector: np.ndarray  # the photo's pca vector, float32 as the table holds it
    compared: int  # rows of the run's pca table
    neighbours: list[Neighbour]  # the nearest, closest first
    label: str  # the vote's winner
    votes: int
    voters: int


def add_similar_flags(parser: argparse.ArgumentParser, state: Path) -> None:
    parser.add_argument("photo", type=Path, help="an image file")
    parser.add_argument("--top", type=int, default=5, help="how many nearest images to show")
    parser.add_argument("--run", help="a validated run's id (default: the published run)")
    parser.add_argument("--stack", default="local", help="a deployed stack's name, or 'local' (default)")
    parser.add_argument("--region", help="the stack's region (default: the configured one)")
    parser.add_argument("--state", type=Path, default=state, help="the local stack's state folder")


def similar_command(args: argparse.Namespace) -> int:
    if args.top < 1:
        raise UserError("--top must be at least 1")
    existing_file(args.photo, "photo")  # before the stack is looked up: the cheaper mistake first
    source = open_source(args.stack, args.state, args.region)
    print_answer(args.photo, search(args.photo, source, args.top, args.run))
    return 0


def search(photo: Path, source: RunSource, top: int, run_id: str | None = None) -> Answer:
    """The photo's vector under the run's model and its nearest rows of the run's pca table."""
    data = existing_file(photo, "photo").read_bytes()
    published = source.published_run()
    run_id = run_id or published
    if not RUN_ID.fullmatch(run_id):
        raise UserError(f"{run_id!r} is not a run id (letters, digits, '-', '_' and '.')")
    model = load_model(source, run_id)
    image = decode_photo(photo, data, model)  # before the network loads: a bad photo is one line, at once
    from orchard.similar_network import featurizer_for  # LiteRT: only for a photo it will run on

    vector = project(image, model, featurizer_for(model, source))
    rows = source.vectors(run_id, published=run_id == published)
    if not rows.paths:
        raise UserError(f"run {run_id} has no vectors in {source.name} (retired, or no image in its PCA)")
    neighbours = nearest(vector, rows, top)
    label, votes, voters = vote(nearest(vector, rows, VOTERS))
    return Answer(run_id, model.model_id, vector, len(rows.paths), neighbours, label, votes, voters)


def load_model(source: RunSource, run_id: str) -> RunModel:
    """The run's own model files (a run that kept an earlier basis writes that basis there too)."""
    from orchard_job.basis import MODEL_ARRAYS, MODEL_JSON
    from orchard_job.pca import PcaModel

    folder = run_path(source.results, MODELS_DATASET, run_id)
    described, arrays = (source.read(f"{folder}/{name}") for name in (MODEL_JSON, MODEL_ARRAYS))
    if described is None or arrays is None:
        raise UserError(
            f"no model of run {run_id} at {folder}/ in {source.name}: is the run id right? "
            '(orchard query "SELECT run_id, status, published FROM runs" lists the runs)'
        )
    description = json.loads(described)
    with np.load(io.BytesIO(arrays)) as saved:
        mean, std, components, explained = (saved[name] for name in ARRAYS)
    pca = PcaModel(mean, std, components, explained, explained, int(description["n_rows"]))
    return RunModel(run_id, {k: v for k, v in description.items() if k not in ARRAYS}, pca)


def decode_photo(photo: Path, data: bytes, model: RunModel) -> np.ndarray:
    """Decoded as the job decodes (UserError with the job's reject reason when it cannot be)."""
    try:
        return decode_image(data, int(model.description["image_size"]))
    except DecodeError as e:
        raise UserError(f"cannot use {photo}: {e}") from e


def project(image: np.ndarray, model: RunModel, featurizer: Featurizer) -> np.ndarray:
    """The network's features, scaled and projected by the run's model."""
    features = featurizer(image[None]).astype(np.float64)
    projected: np.ndarray = model.pca.transform(features)[0].astype(np.float32)
    return projected


def nearest(vector: np.ndarray, rows: Vectors, count: int) -> list[Neighbour]:
    """The count rows closest to vector (Euclidean), closest first; equal distances by path."""
    distances = np.sqrt(((rows.matrix.astype(np.float64) - vector.astype(np.float64)) ** 2).sum(axis=1))
    order = sorted(range(len(distances)), key=lambda i: (distances[i], rows.paths[i]))[:count]
    return [Neighbour(rows.paths[i], rows.labels[i], float(distances[i])) for i in order]


def vote(voters: list[Neighbour]) -> tuple[str, int, int]:
    """(label, its votes, voters): the most frequent label; a tie goes to the label met first (nearest)."""
    counts = Counter(n.label for n in voters)
    winner = max(counts, key=lambda label: (counts[label], -[n.label for n in voters].index(label)))
    return winner, counts[winner], len(voters)


def print_answer(photo: Path, answer: Answer) -> None:
    print(f"{photo}: run {answer.run_id} (network {answer.model_id}), {answer.compared} images compared")
    width = max(len(n.label) for n in answer.neighbours)
    for rank, neighbour in enumerate(answer.neighbours, start=1):
        print(f"{rank:>3}  {neighbour.distance:10.4f}  {neighbour.label:<{width}}  {neighbour.path}")
    share = answer.votes / answer.voters
    print(
        f"Vote of the {answer.voters} nearest: {answer.label} ({answer.votes}/{answer.voters} = {share:.0%})"
    )


def demo_example(state: Path, images: Path) -> None:
    """The demo's closing example: one of its own images, recognised against the run just published."""
    candidates = sorted(p for p in images.rglob("*") if is_image(p.name) and p.is_file())
    photo = next((p for p in candidates if _decodes(p)), None)
    if photo is None:
        return
    print(f"\nQuery by example (orchard similar {photo} --top 3):")
    try:
        print_answer(photo, search(photo, open_source("local", state, None), top=3))
    except UserError as e:  # the demo's run stands; say why its example could not follow
        print(f"  could not run: {e}")


def _decodes(path: Path) -> bool:
    try:
        decode_image(path.read_bytes(), 32)
    except DecodeError:
        return False
    return True
