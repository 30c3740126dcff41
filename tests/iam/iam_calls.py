"""Each AWS API operation Orchard uses, as the authorizations AWS makes for it (action, resource, context).

The table covers the operations Orchard's components make (observed, derived or modelled); any other
operation raises UnmappedOperationError, so that a new call fails the check until it is mapped here.

Sources: the Service Authorization Reference of each service (actions, resource types, condition keys);
S3: a HEAD or GET of a missing key answers 404 only if the caller also has s3:ListBucket on the bucket, else
403 (https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html); multipart uploads are authorized as
s3:PutObject, their abort as s3:AbortMultipartUpload
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/mpuoverview.html#mpuAndPermissions); Glue table
operations are authorized on the catalog, the database and the table
(https://docs.aws.amazon.com/glue/latest/dg/glue-specifying-resource-arns.html); publishing to a topic
encrypted with a KMS key needs kms:GenerateDataKey and kms:Decrypt on that key besides sns:Publish
(https://docs.aws.amazon.com/sns/latest/dg/sns-key-management.html): iam_record derives those KMS calls from
each Publish, as the topic's KmsMasterKeyId names the key; a presigned URL is recorded as the GetObject it
authorizes.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from iam_eval import Request

from orchard.local.template import ACCOUNT_ID, REGION

# The id of a job run that StartJobRun is creating (AWS assigns it; any id matches the same grants).
NEW_JOB_RUN = "00fnewjobrun0000"
MISSING = {"NoSuchKey", "404", "NotFound"}  # how a missing S3 key answers
Authorization = tuple[str, str, dict[str, Any]]  # action, resource ARN, context


class UnmappedOperationError(LookupError):
    """An operation the table does not know: map it before the check can pass."""


@dataclass(frozen=True)
class Call:
    """One AWS API call: who made it (a function name, STATE_MACHINE or JOB), what, and how it ended."""

    caller: str
    service: str  # botocore's service name
    operation: str  # botocore's operation name
    params: Mapping[str, Any] = field(default_factory=dict)
    error: str | None = None  # the error code it got, if any
    origin: str = ""  # what made it (a model step, a derivation) when not the caller's own code


def requests(call: Call, role: str) -> list[Request]:
    mapper = OPERATIONS.get((call.service, call.operation))
    if mapper is None:
        raise UnmappedOperationError(f"{call.service}.{call.operation} ({call.caller}) is not mapped to IAM")
    origin = call.origin or f"{call.caller}: {call.service}.{call.operation}"
    return [Request(role, a, r, c, origin) for a, r, c in mapper(_Params(call.params), call.error)]


class _Params:
    """Parameter lookup by name in any case (the SDK integration passes PascalCase, boto3 camelCase)."""

    def __init__(self, params: Mapping[str, Any]) -> None:
        self.params = {key.lower(): value for key, value in params.items()}

    def __getitem__(self, name: str) -> Any:
        return self.params[name.lower()]

    def get(self, name: str) -> Any:
        return self.params.get(name.lower())


def arn(service: str, resource: str) -> str:
    return f"arn:aws:{service}:{REGION}:{ACCOUNT_ID}:{resource}"


def _s3_object(p: _Params, error: str | None, action: str = "s3:GetObject") -> list[Authorization]:
    found: list[Authorization] = [(action, f"arn:aws:s3:::{p['Bucket']}/{p['Key']}", {})]
    if error in MISSING:  # the 404 answer itself is authorized by s3:ListBucket, with no s3:prefix
        found.append(("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}", {}))
    return found


def _s3_list(p: _Params, _: str | None) -> list[Authorization]:
    keys = {"s3:prefix": p.get("Prefix"), "s3:delimiter": p.get("Delimiter"), "s3:max-keys": p.get("MaxKeys")}
    context = {key: str(value) for key, value in keys.items() if value is not None}
    return [("s3:ListBucket", f"arn:aws:s3:::{p['Bucket']}", context)]


def _s3_delete_many(p: _Params, _: str | None) -> list[Authorization]:
    keys = [item["Key"] for item in p["Delete"]["Objects"]]
    return [("s3:DeleteObject", f"arn:aws:s3:::{p['Bucket']}/{key}", {}) for key in keys]


def _s3_copy(p: _Params, _: str | None) -> list[Authorization]:
    source = p["CopySource"]
    source = f"{source['Bucket']}/{source['Key']}" if isinstance(source, Mapping) else source.lstrip("/")
    return [("s3:GetObject", f"arn:aws:s3:::{source}", {}), *_s3_object(p, None, "s3:PutObject")]


def _glue(action: str, table: bool) -> Callable[[_Params, str | None], list[Authorization]]:
    def authorizations(p: _Params, _: str | None) -> list[Authorization]:
        database = p.get("DatabaseName") or p["Name"]
        found: list[Authorization] = [(action, arn("glue", "catalog"), {})]
        found.append((action, arn("glue", f"database/{database}"), {}))
        if table:
            name = p.get("TableName") or p.get("Name") or p["TableInput"]["Name"]
            found.append((action, arn("glue", f"table/{database}/{name}"), {}))
        return found

    return authorizations


def _lambda_invoke(p: _Params, _: str | None) -> list[Authorization]:
    name = p["FunctionName"]
    resource = name if name.startswith("arn:") else arn("lambda", f"function:{name}")
    return [("lambda:InvokeFunction", resource, {})]


def _start_job_run(p: _Params, _: str | None) -> list[Authorization]:
    application = arn("emr-serverless", f"/applications/{p['applicationId']}")
    tags = dict(p.get("tags") or {})
    tagging = {"aws:TagKeys": sorted(tags), **{f"aws:RequestTag/{k}": str(v) for k, v in tags.items()}}
    found = [("emr-serverless:StartJobRun", application, tagging if tags else {})]
    if tags:  # tag-on-create: AWS does not say which resource it names, so both must be allowed
        found += [
            ("emr-serverless:TagResource", resource, tagging)
            for resource in (application, f"{application}/jobruns/{NEW_JOB_RUN}")
        ]
    passed = {"iam:PassedToService": "emr-serverless.amazonaws.com"}
    return [*found, ("iam:PassRole", p["executionRoleArn"], passed)]


def _job_run(action: str) -> Callable[[_Params, str | None], list[Authorization]]:
    def authorizations(p: _Params, _: str | None) -> list[Authorization]:
        job_run = f"/applications/{p['applicationId']}/jobruns/{p['jobRunId']}"
        return [(action, arn("emr-serverless", job_run), {})]

    return authorizations


def _queue(action: str) -> Callable[[_Params, str | None], list[Authorization]]:
    def authorizations(p: _Params, _: str | None) -> list[Authorization]:
        url = urlparse(p["QueueUrl"])
        account, name = url.path.strip("/").split("/")
        region = url.hostname.split(".")[1] if url.hostname else REGION
        return [(action, f"arn:aws:sqs:{region}:{account}:{name}", {})]

    return authorizations


def _by_key(action: str, key: str, resource: Callable[[str], str]) -> Callable[..., list[Authorization]]:
    return lambda p, _: [(action, resource(p[key]), {})]


def _anywhere(action: str) -> Callable[[_Params, str | None], list[Authorization]]:
    """Actions with no resource type: authorized on "*"."""
    return lambda p, _: [(action, "*", {})]


def _log_stream(action: str) -> Callable[[_Params, str | None], list[Authorization]]:
    return lambda p, _: [
        (action, arn("logs", f"log-group:{p['logGroupName']}:log-stream:{p['logStreamName']}"), {})
    ]


# What Step Functions does to deliver a state machine's logs to CloudWatch Logs.
LOG_DELIVERY = (
    "CreateLogDelivery",
    "GetLogDelivery",
    "UpdateLogDelivery",
    "DeleteLogDelivery",
    "ListLogDeliveries",
    "PutResourcePolicy",
    "DescribeResourcePolicies",
    "DescribeLogGroups",
)
GLUE_TABLE = (
    "GetTable",
    "CreateTable",
    "UpdateTable",
    "DeleteTable",
    "BatchCreatePartition",
    "GetPartitions",
    "BatchDeletePartition",
)
OPERATIONS: dict[tuple[str, str], Callable[[_Params, str | None], list[Authorization]]] = {
    ("s3", "GetObject"): _s3_object,
    ("s3", "HeadObject"): _s3_object,
    ("s3", "PutObject"): lambda p, e: _s3_object(p, None, "s3:PutObject"),
    ("s3", "CreateMultipartUpload"): lambda p, e: _s3_object(p, None, "s3:PutObject"),
    ("s3", "UploadPart"): lambda p, e: _s3_object(p, None, "s3:PutObject"),
    ("s3", "CompleteMultipartUpload"): lambda p, e: _s3_object(p, None, "s3:PutObject"),
    ("s3", "AbortMultipartUpload"): lambda p, e: _s3_object(p, None, "s3:AbortMultipartUpload"),
    ("s3", "DeleteObject"): lambda p, e: _s3_object(p, None, "s3:DeleteObject"),
    ("s3", "DeleteObjects"): _s3_delete_many,
    ("s3", "CopyObject"): _s3_copy,
    ("s3", "ListObjectsV2"): _s3_list,
    ("s3", "ListObjects"): _s3_list,
    **{("glue", op): _glue(f"glue:{op}", table=True) for op in GLUE_TABLE},
    ("glue", "GetDatabase"): _glue("glue:GetDatabase", table=False),
    ("stepfunctions", "StartExecution"): _by_key("states:StartExecution", "stateMachineArn", str),
    ("stepfunctions", "ListExecutions"): _by_key("states:ListExecutions", "stateMachineArn", str),
    ("stepfunctions", "DescribeExecution"): _by_key("states:DescribeExecution", "executionArn", str),
    ("lambda", "Invoke"): _lambda_invoke,
    ("emr-serverless", "StartJobRun"): _start_job_run,
    ("emr-serverless", "GetJobRun"): _job_run("emr-serverless:GetJobRun"),
    ("emr-serverless", "CancelJobRun"): _job_run("emr-serverless:CancelJobRun"),
    **{
        ("events", op): _by_key(f"events:{op}", "Name", lambda name: arn("events", f"rule/{name}"))
        for op in ("PutRule", "PutTargets", "DescribeRule")
    },
    ("logs", "CreateLogStream"): _log_stream("logs:CreateLogStream"),
    ("logs", "PutLogEvents"): _log_stream("logs:PutLogEvents"),
    **{("logs", op): _anywhere(f"logs:{op}") for op in LOG_DELIVERY},
    ("sqs", "ReceiveMessage"): _queue("sqs:ReceiveMessage"),
    ("sqs", "DeleteMessage"): _queue("sqs:DeleteMessage"),
    ("sqs", "DeleteMessageBatch"): _queue("sqs:DeleteMessage"),
    ("sqs", "GetQueueAttributes"): _queue("sqs:GetQueueAttributes"),
    ("sqs", "ChangeMessageVisibility"): _queue("sqs:ChangeMessageVisibility"),
    ("sns", "Publish"): _by_key("sns:Publish", "TopicArn", str),
    ("kms", "GenerateDataKey"): _by_key("kms:GenerateDataKey", "KeyId", str),
    ("kms", "Decrypt"): _by_key("kms:Decrypt", "KeyId", str),
}
