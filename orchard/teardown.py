"""`orchard aws-teardown --stack NAME --yes`: delete a stack and the bucket it retains.

The template keeps the bucket when the stack is deleted (``DeletionPolicy: Retain``), so deleting the stack
leaves it, with every image and result. This deletes the stack, waits for CloudFormation to finish, then
empties the bucket, every object version and delete marker included (a bucket that ever had versioning keeps
them, and DeleteBucket refuses a bucket that is not empty), and deletes it:
https://docs.aws.amazon.com/AmazonS3/latest/userguide/delete-bucket.html
https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/aws-attribute-deletionpolicy.html
The bucket's name is read from the stack's resources before the stack is deleted (the logical id ``Bucket``).
A stack that does not exist is nothing to delete (the deploy test calls this whether its deploy got that far).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from orchard.stacks import Deployment, StackNotFoundError, describe

DELETE_BATCH = 1000  # the most keys one DeleteObjects request takes


def plan(cloudformation: Any, name: str) -> Deployment | None:
    """The stack to delete, or None when there is none of that name."""
    try:
        return describe(cloudformation, name)
    except StackNotFoundError as e:
        if str(e).startswith("no stack named"):
            return None
        raise


def teardown(
    session: Any, deployment: Deployment, echo: Callable[[str], None] = print, wait_minutes: int = 60
) -> bool:
    """Delete the stack, then empty and delete its bucket; True when both are gone."""
    cloudformation = session.client("cloudformation")
    bucket = deployment.resources.get("Bucket")
    echo(f"Deleting stack {deployment.name} ({deployment.status}) ...")
    cloudformation.delete_stack(StackName=deployment.name)
    waiter = cloudformation.get_waiter("stack_delete_complete")
    stack_gone = True
    try:
        waiter.wait(StackName=deployment.name, WaiterConfig={"Delay": 10, "MaxAttempts": wait_minutes * 6})
        echo(f"stack {deployment.name} deleted")
    except Exception as e:  # the waiter's errors (DELETE_FAILED, timeout): the bucket still goes
        stack_gone = False
        echo(f"stack {deployment.name} NOT deleted: {e}")
    if not bucket:
        echo("the stack had no bucket")
        return stack_gone
    return delete_bucket(session.client("s3"), bucket, echo) and stack_gone


def delete_bucket(s3: Any, bucket: str, echo: Callable[[str], None] = print) -> bool:
    """Empty the bucket (all versions and delete markers) and delete it; a bucket already gone counts."""
    from botocore.exceptions import ClientError

    removed = 0
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=bucket):
            versions = [
                {"Key": v["Key"], "VersionId": v["VersionId"]}
                for v in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(versions), DELETE_BATCH):
                batch = versions[start : start + DELETE_BATCH]
                answer = s3.delete_objects(Bucket=bucket, Delete={"Objects": batch, "Quiet": True})
                if answer.get("Errors"):
                    echo(f"bucket {bucket}: could not delete {answer['Errors'][:3]}")
                    return False
                removed += len(batch)
        s3.delete_bucket(Bucket=bucket)
    except ClientError as e:
        if e.response["Error"]["Code"] == "NoSuchBucket":
            echo(f"bucket {bucket} already deleted")
            return True
        echo(f"bucket {bucket} NOT deleted: {e}")
        return False
    echo(f"bucket {bucket} emptied ({removed} object versions and delete markers) and deleted")
    return True
