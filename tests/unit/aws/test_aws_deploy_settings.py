"""What AWS would refuse at deploy or job start, checked on template.yaml as resolved for many stacks:
names (bucket, Glue database, stack-name limits), worker sizes, and the environment the job's driver gets."""

from __future__ import annotations

import re
import shlex
from decimal import Decimal
from typing import Any

import botocore.session
import pytest
from aws_support import REPO
from image_build import stage_values

from orchard.local.template import Resolver, load_template
from orchard_job.artifact import BAKED_ENV
from orchard_job.network import IMAGENET_ENV

# Supported worker configurations: vCPU -> (min GB, max GB, step GB). Spark adds memoryOverhead to the heap,
# 10% of it and at least 384 MB.
# https://docs.aws.amazon.com/emr/latest/EMR-Serverless-UserGuide/app-behavior.html#worker-configs
SUPPORTED_WORKERS = {1: (2, 8, 1), 2: (4, 16, 1), 4: (8, 30, 1), 8: (16, 60, 4), 16: (32, 120, 8)}
MIN_OVERHEAD_GB = Decimal("0.384")
# Name length limits of the resources the template names after the stack (AWS API references).
NAME_LIMITS = {
    "AWS::Serverless::Function": ("FunctionName", 64),
    "AWS::Serverless::LayerVersion": ("LayerName", 140),
    "AWS::Serverless::StateMachine": ("Name", 80),
    "AWS::EMRServerless::Application": ("Name", 64),
    "AWS::Athena::WorkGroup": ("Name", 128),
    "AWS::Logs::LogGroup": ("LogGroupName", 512),
}
# Environment variables of the image that the job's driver reads.
JOB_ENV = {IMAGENET_ENV, BAKED_ENV, "PYSPARK_PYTHON", "PYSPARK_DRIVER_PYTHON"}
STACK_ID = "arn:aws:cloudformation:{region}:123456789012:stack/{stack}/{uuid}"
UUIDS = ("0a1b2c3d-4e5f-6789-abcd-ef0123456789", "ffffffff-0000-4000-8000-000000000000")


@pytest.fixture(scope="module")
def raw() -> dict[str, Any]:
    return load_template()


def resolver(template: dict[str, Any], stack: str = "orchard", region: str = "us-east-1", **parameters: Any):
    uuid = parameters.pop("uuid", UUIDS[0])
    pseudo = {
        "AWS::StackName": stack,
        "AWS::Region": region,
        "AWS::StackId": STACK_ID.format(region=region, stack=stack, uuid=uuid),
    }
    return Resolver(template, {**pseudo, **{k: str(v) for k, v in parameters.items()}})


def regions() -> list[str]:
    found = botocore.session.get_session().get_available_regions("s3")
    assert len(found) > 10
    return [*found, "ap-southeast-99"]  # longer than any region today


def valid_bucket_name(name: str) -> bool:
    # https://docs.aws.amazon.com/AmazonS3/latest/userguide/bucketnamingrules.html
    return (
        3 <= len(name) <= 63
        and re.fullmatch(r"[a-z0-9][a-z0-9.-]*[a-z0-9]", name) is not None
        and ".." not in name
        and not re.fullmatch(r"\d+\.\d+\.\d+\.\d+", name)
        and not name.startswith(("xn--", "sthree-"))
        and not name.endswith(("-s3alias", "--ol-s3"))
    )


def bucket_name(template: dict[str, Any], **kwargs: Any) -> str:
    name: str = resolver(template, **kwargs).resolve(
        template["Resources"]["Bucket"]["Properties"]["BucketName"]
    )
    return name


def test_the_bucket_name_is_valid_for_every_stack_name_and_region(raw):
    for stack in ("orchard", "Orchard-Prod", "a", "S" * 128):
        for region in regions():
            name = bucket_name(raw, stack=stack, region=region)
            assert valid_bucket_name(name), (stack, region, name)


def test_a_stack_deployed_again_under_the_same_name_gets_a_new_bucket(raw):
    # The bucket is retained when the stack is deleted: the same name again would fail the deploy.
    names = {bucket_name(raw, stack="orchard", uuid=uuid) for uuid in UUIDS}
    assert len(names) == len(UUIDS)


def test_the_queue_accepts_notifications_from_the_stack_bucket_only(raw):
    policy = raw["Resources"]["ImageEventsQueuePolicy"]["Properties"]["PolicyDocument"]
    [statement] = policy["Statement"]
    for uuid in UUIDS:
        source = resolver(raw, uuid=uuid).resolve(statement["Condition"]["ArnEquals"]["aws:SourceArn"])
        assert source == f"arn:aws:s3:::{bucket_name(raw, uuid=uuid)}"


def database_name(template: dict[str, Any], stack: str, **parameters: Any) -> str:
    name: str = resolver(template, stack, **parameters).resolve(
        template["Resources"]["GlueDatabase"]["Properties"]["DatabaseInput"]["Name"]
    )
    return name


def test_each_stack_gets_its_own_glue_database_unless_one_is_named(raw):
    stacks = ("orchard", "orchard-dev", "orchard-dev-2", "team-a")
    names = [database_name(raw, stack) for stack in stacks]
    assert len(set(names)) == len(stacks), names
    # Glue stores names in lower case; Athena needs letters, digits and underscores only.
    assert all(re.fullmatch(r"[A-Za-z0-9_]{1,255}", name) for name in names), names
    assert database_name(raw, "orchard-dev", DatabaseName="features") == "features"
    assert database_name(raw, "orchard") == "orchard"  # the local stack and the docs' queries


def longest_stack_name(template: dict[str, Any]) -> int:
    """The longest stack name for which every name derived from it fits its service's limit."""
    longest = 128  # CloudFormation's own limit
    probe = "s" * 10
    for resource in template["Resources"].values():
        if resource["Type"] not in NAME_LIMITS:
            continue
        key, limit = NAME_LIMITS[resource["Type"]]
        value = resource["Properties"].get(key)
        if value is None:
            continue
        name = resolver(template, probe).resolve(value)
        if probe in name:
            longest = min(longest, limit - (len(name) - len(probe)))
    return longest


def test_stack_name_limit_is_the_one_the_docs_give(raw):
    longest = longest_stack_name(raw)
    assert 30 <= longest < 128
    docs = (REPO / "docs" / "aws.md").read_text()
    assert f"stack name of at most {longest} characters" in docs


def spark_confs(template: dict[str, Any], cores: int) -> dict[str, str]:
    substitutions = template["Resources"]["StateMachine"]["Properties"]["DefinitionSubstitutions"]
    text = resolver(template, ExecutorCores=cores).resolve(substitutions["SparkSubmitParameters"])
    words = shlex.split(text)
    assert all(flag == "--conf" for flag in words[::2]), words
    return dict(conf.partition("=")[::2] for conf in words[1::2])


def gigabytes(memory: str) -> Decimal:
    match = re.fullmatch(r"(\d+)([gm])", memory)
    assert match, memory
    return Decimal(match.group(1)) / (1 if match.group(2) == "g" else 1024)


def worker_memory(cores: int, heap: Decimal) -> int | None:
    """The supported worker memory that holds heap + overhead for this vCPU count, if any."""
    low, high, step = SUPPORTED_WORKERS[cores]
    needed = heap + max(MIN_OVERHEAD_GB, heap / 10)
    return next((gb for gb in range(low, high + 1, step) if gb >= needed), None)


def test_every_allowed_worker_size_is_a_supported_configuration(raw):
    allowed = raw["Parameters"]["ExecutorCores"]["AllowedValues"]
    assert set(allowed) <= set(SUPPORTED_WORKERS)
    for cores in allowed:
        confs = spark_confs(raw, cores)
        for role in ("executor", "driver"):
            assert int(confs[f"spark.{role}.cores"]) == cores
            memory = worker_memory(cores, gigabytes(confs[f"spark.{role}.memory"]))
            assert memory is not None, (cores, role, confs[f"spark.{role}.memory"])
            # Filled, not padded: a worker of one step less would not hold it (EMR bills the worker).
            assert memory <= 4 * cores, (cores, role, memory)
        assert int(confs["spark.task.cpus"]) == cores  # one featurize task per executor, all its cores


def test_the_driver_gets_the_image_environment_the_job_reads(raw):
    # EMR Serverless does not hand the image's ENV to the Spark driver: each variable is passed explicitly.
    env = stage_values()[1]
    read_by_job = {name for name in env if name.startswith(("ORCHARD_", "PYSPARK_"))}
    assert read_by_job == JOB_ENV
    confs = spark_confs(raw, 4)
    for name in JOB_ENV:
        assert confs.get(f"spark.emr-serverless.driverEnv.{name}") == env[name], name
    assert confs.get("spark.executorEnv.PYSPARK_PYTHON") == env["PYSPARK_PYTHON"]
