"""What only the catalog step knows, shown on the run's page (runs/run_id=<id>/report.html, the job's):
published or not, or failed and why, and the run's EMR Serverless usage and estimated cost. The block between
the page's status markers is replaced; a run without a page (the job never wrote one) is left as it is. The
page is a view of the run record: a failure to update it is logged and never fails the step (the record is
the truth).
"""

from __future__ import annotations

from collections.abc import Mapping
from html import escape
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from orchard_contract.layout import S3Uri
from orchard_contract.run_page import run_page_path, with_status

logger = Logger()

MAX_CAUSE = 600


def status_block(record: Mapping[str, Any], published_run_id: str | None = None) -> str:
    run_id = record["run_id"]
    if record["status"] == "failed":
        cause = (record.get("cause") or "")[:MAX_CAUSE]
        state = f'<b class="bad">Failed</b>: {escape(str(record.get("error")))}'
        state += f"<br><small>{escape(cause)}</small>" if cause else ""
    elif record.get("published"):
        state = '<b class="ok">Published</b>: <code>pca</code> and <code>rejects</code> show this run.'
    else:
        newer = f" ({escape(published_run_id)})" if published_run_id and published_run_id != run_id else ""
        state = (
            f"<b>Validated, not published</b>: a run that started later{newer} was published first; this "
            "run is in the history tables."
        )
    return (
        f'<div class="status">{state}<br>{escape(cost_text(record))}<br><small>Recorded '
        f"{escape(str(record.get('recorded_at')))} (the <code>runs</code> table).</small></div>"
    )


def cost_text(record: Mapping[str, Any]) -> str:
    cost = record.get("estimated_cost_usd")
    if cost is None:
        return "Cost: unknown (no EMR Serverless usage was recorded for this run)."
    usage = [
        f"{record[key]:,.4g} {unit}"
        for key, unit in (("job_seconds", "s"), ("vcpu_hours", "vCPU-h"), ("memory_gb_hours", "GB-h memory"))
        if record.get(key) is not None
    ]
    return f"Estimated cost: ${cost:,.4f} ({', '.join(usage) or 'usage not itemized'})."


def show_status(s3: Any, root: S3Uri, record: Mapping[str, Any], published_run_id: str | None = None) -> bool:
    """Replace the page's status block; False when there is no page or it could not be updated. The page is
    listed first, not read blind: a read of a missing key needs s3:ListBucket to answer NoSuchKey."""
    key = run_page_path(root.key, record["run_id"])
    try:
        listed = s3.list_objects_v2(Bucket=root.bucket, Prefix=key, MaxKeys=1)
        if not any(item["Key"] == key for item in listed.get("Contents", [])):
            return False
        page = s3.get_object(Bucket=root.bucket, Key=key)["Body"].read().decode("utf-8")
        updated = with_status(page, status_block(record, published_run_id))
        s3.put_object(Bucket=root.bucket, Key=key, Body=updated.encode("utf-8"), ContentType="text/html")
    except ClientError:
        logger.exception("run page not updated; the run record holds its status", extra={"key": key})
        return False
    return True
