"""`orchard soak`'s burst as a test: 10,000 uploads, 10% of notifications delivered twice, all shuffled, the
first trigger invocation timing out after starting its run; through the real definition, handlers and job."""

from __future__ import annotations

from pathlib import Path

import pytest

from orchard.local.run import local_stack
from orchard.soak import Burst, holds, run_burst

pytestmark = [pytest.mark.slow, pytest.mark.usefixtures("baked_network")]


def test_a_burst_loses_nothing_and_featurizes_nothing_twice(tmp_path: Path) -> None:
    burst = Burst(images=10_000, duplicate_fraction=0.10)
    with local_stack(tmp_path / "state", {"ImageSize": "96"}, fresh=True, echo=False) as stack:
        figures = run_burst(stack, burst)

    corrupt = burst.images // burst.corrupt_every
    assert figures["notifications_delivered"] == burst.images + burst.images // 10 + 1  # + s3:TestEvent
    assert figures["executions_started"] <= 5  # a handful: the 6 MB Lambda payload caps a batch
    assert (figures["published"], figures["rejected"]) == (burst.images - corrupt, corrupt)
    assert figures["featurized"] == burst.images - corrupt
    assert holds(figures), figures
