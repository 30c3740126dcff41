"""`--stack NAME`: which deployed Orchard stack a command talks to, and what it is made of.

Every command that talks to a deployed stack takes the same flag and resolves it here:

- ``--stack local`` is the local stack (moto, in-process; its state folder is ``--state``, by default
  ``.orchard/local`` as for ``orchard upload``). A CloudFormation stack really named ``local`` is reached by
  its stack id (ARN) instead.
- any other name is a CloudFormation stack in the caller's account and region (the caller's own credentials,
  boto3's usual chain; ``--region`` or the configured region): its Outputs (``BucketName``, ``UploadPrefix``,
  ``StateMachineArn``, ``EmrApplicationId``, ``AthenaWorkGroupName``, ``GlueDatabaseName``...) and the
  physical ids of its resources by logical id (``Bucket``, ``StateMachineLogGroup``...). This path never
  imports moto.

DescribeStacks answers a ValidationError for a stack that does not exist (or was deleted):
https://docs.aws.amazon.com/AWSCloudFormation/latest/APIReference/API_DescribeStacks.html
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from orchard.errors import UserError

LOCAL = "local"
REQUIRED_OUTPUTS = ("BucketName", "UploadPrefix", "StateMachineArn", "EmrApplicationId")


class StackNotFoundError(UserError):
    """The stack cannot be used; the message is one line for the user."""


@dataclass(frozen=True)
class Deployment:
    """A deployed Orchard stack: its name, Outputs and resources (logical id -> physical id)."""

    name: str
    outputs: Mapping[str, str]
    resources: Mapping[str, str] = field(default_factory=dict)
    region: str = ""
    status: str = ""


def add_stack_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--stack",
        required=True,
        help=f"the CloudFormation stack's name (or id); '{LOCAL}' for the local stack (see --state)",
    )
    parser.add_argument("--region", help="the stack's region (default: the configured one)")


def is_local(name: str) -> bool:
    return name == LOCAL


def session(region: str | None) -> Any:
    """The caller's own boto3 session (credentials chain, configured region unless given)."""
    import boto3

    return boto3.Session(region_name=region) if region else boto3.Session()


def describe(cloudformation: Any, name: str) -> Deployment:
    """The stack's Outputs and resources; StackNotFoundError with one clear line when it cannot be used."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError, NoRegionError

    region = cloudformation.meta.region_name
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
        resources = {
            r["LogicalResourceId"]: r.get("PhysicalResourceId", "")
            for page in cloudformation.get_paginator("list_stack_resources").paginate(StackName=name)
            for r in page["StackResourceSummaries"]
        }
    except ClientError as e:
        if e.response["Error"]["Code"] == "ValidationError":
            raise StackNotFoundError(f"no stack named {name} in {region} (is the region right?)") from e
        raise StackNotFoundError(f"cannot read stack {name} in {region}: {e}") from e
    except (NoCredentialsError, NoRegionError) as e:
        raise StackNotFoundError(
            f"{e} (configure AWS credentials and a region, or use --stack {LOCAL})"
        ) from e
    except BotoCoreError as e:
        raise StackNotFoundError(f"cannot read stack {name} in {region}: {e}") from e
    [stack] = stacks
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
    return Deployment(stack["StackName"], outputs, resources, region or "", stack["StackStatus"])


def orchard_stack(cloudformation: Any, name: str) -> Deployment:
    """A stack that Orchard commands can drive: deployed, with the outputs they read."""
    deployment = describe(cloudformation, name)
    if deployment.status.endswith(("_FAILED", "ROLLBACK_COMPLETE")) or "IN_PROGRESS" in deployment.status:
        raise StackNotFoundError(f"stack {deployment.name} is {deployment.status}: deploy it first")
    missing = [key for key in REQUIRED_OUTPUTS if key not in deployment.outputs]
    if missing:
        raise StackNotFoundError(
            f"stack {deployment.name} has no output {', '.join(missing)}: not an Orchard stack?"
        )
    return deployment
