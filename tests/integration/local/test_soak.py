"""A small `orchard soak` burst as a test: 10% of notifications delivered twice, all shuffled, the first
trigger invocation timing out after starting its run, and small batches, so that several executions start
while the first one's job runs; through the real definition, handlers and job. Without the gate letting runs
take turns, they would featurize the same images at once. The 10,000-upload burst is `make soak`
(docs/local.md)."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchard.local.run import local_stack
from orchard.soak import Burst, holds, run_burst

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("baked_network")]


def test_a_burst_loses_nothing_and_featurizes_nothing_twice(tmp_path: Path) -> None:
    burst = Burst(images=200, duplicate_fraction=0.10, batch_limit=100)
    with local_stack(tmp_path / "state", {"ImageSize": "96"}, fresh=True, echo=False) as stack:
        figures = run_burst(stack, burst)

    assert holds(figures), figures
    corrupt = burst.images // burst.corrupt_every
    assert figures["notifications_delivered"] == burst.images + burst.images // 10 + 1  # + s3:TestEvent
    assert figures["executions_started"] >= 3  # the runs overlapped ...
    assert figures["superseded"] >= 1  # ... and took turns
    assert (figures["published"], figures["rejected"]) == (burst.images - corrupt, corrupt)
    assert figures["featurized"] == burst.images - corrupt
