"""moto's SQS at burst scale: the same answers, without work that grows with the queue on every message.

moto builds every queue attribute, including the ApproximateNumberOf* counters (a scan of all messages), each
time it reads one attribute: once per message sent (ContentBasedDeduplication) and once per message received
(MessageRetentionPeriod). Its clock reads go through datetime arithmetic, once per message per scan. A burst
of queued notifications then costs time that grows with the square of its size (figures: docs/local.md).
Attributes become a read-only mapping that computes a value when it is read; the clock is ``time.time``.
Idempotent; a moto upgrade that moves these leaves moto's own behaviour.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from datetime import datetime
from typing import Any


def apply() -> None:
    try:
        from moto.sqs import models
    except ImportError:
        return
    if getattr(models.Queue, "orchard_patched", False):
        return

    class LazyAttributes(Mapping[str, Any]):
        def __init__(self, queue: Any) -> None:
            self.queue = queue
            names = list(queue.BASE_ATTRIBUTES)
            names += queue.FIFO_ATTRIBUTES if queue.fifo_queue else []
            names += queue.KMS_ATTRIBUTES if queue.kms_master_key_id else []
            self.names = list(dict.fromkeys(names))

        def __getitem__(self, name: str) -> Any:
            if name not in self.names:
                raise KeyError(name)
            if name == "Policy" and self.queue.policy:
                return self.queue.policy
            if name == "RedrivePolicy" and self.queue.redrive_policy:
                return json.dumps(self.queue.redrive_policy)
            value = getattr(self.queue, models.camelcase_to_underscores(name))
            return str(value).lower() if isinstance(value, bool) else value

        def __iter__(self) -> Iterator[str]:
            return iter(self.names)

        def __len__(self) -> int:
            return len(self.names)

    def retention_ok(self: Any, queue_name: str, message: Any) -> bool:
        retention = int(self.get_queue(queue_name).message_retention_period)
        return bool(retention + message.sent_timestamp / 1000 > time.time())

    models.Queue.attributes = property(LazyAttributes)  # type: ignore[assignment]
    models.SQSBackend.is_message_valid_based_on_retention_period = retention_ok  # type: ignore[method-assign]
    convert = models.unix_time

    def seconds(dt: datetime | None = None) -> float:
        return time.time() if dt is None else convert(dt)

    models.unix_time = seconds
    models.unix_time_millis = lambda dt=None: seconds(dt) * 1000.0
    models.Queue.orchard_patched = True  # type: ignore[attr-defined]
