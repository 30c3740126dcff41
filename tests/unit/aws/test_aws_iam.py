"""IAM as AWS would check it, for the calls no local run shows: the EMR task's (derived from its
Parameters), Lambda's and Step Functions' own (logs, queue polling, log delivery) and the job's S3 requests
(the EMRFS model on a run's layout), evaluated against the transformed template by a policy evaluator
(docs/iam-check.md).

The recorded calls of local flows, and the property that every grant is used, are in tests/unit/local.
"""

from __future__ import annotations

import copy
import re
from dataclasses import replace
from typing import Any

import pytest
from aws_support import NEIGHBOUR
from emrfs_model import JobRun, example_runs, job_calls
from iam_calls import Call, UnmappedOperationError, requests
from iam_check import authorizations, denied, evaluate, lines
from iam_derived import derived_calls
from iam_eval import Request
from iam_roles import JOB, STATE_MACHINE, Deployment, deployment, role_statement, with_parameters

from orchard.local.template import STACK_NAME, STACK_UUID, Resolver

WEIGHTS = "s3://weights-bucket/mobilenet/no_top.h5"


@pytest.fixture(scope="module")
def deployed(transformed: dict[str, Any], local: Resolver) -> Deployment:
    return deployment(transformed, local)


def job_runs(deployed: Deployment, weights: str | None = None) -> list[JobRun]:
    r = deployed.resolver
    bucket, images, output = (
        r.refs["Bucket"],
        r.parameter("ImagesPrefix").rstrip("/"),
        r.parameter("ResultsPrefix"),
    )
    return [replace(run, weights=weights) for run in example_runs(bucket, images, output)]


def all_calls(deployed: Deployment, weights: str | None = None) -> list[Call]:
    return [*derived_calls(deployed), *(c for run in job_runs(deployed, weights) for c in job_calls(run))]


def test_every_derived_and_modelled_call_is_allowed(deployed, iam_evaluator):
    decisions = evaluate(iam_evaluator, deployed, all_calls(deployed))
    assert len(decisions) > 500
    assert not denied(decisions), lines(denied(decisions))


def in_neighbour_stack(deployed: Deployment, resource: str) -> str:
    """The same resource of the neighbouring stack: its names carry that stack's name and id, its EMR
    application another id. A resource of the account ("*", the rule Step Functions keeps for it) stays."""
    application = deployed.resolver.attributes["EmrApplication.ApplicationId"]
    resource = resource.replace(application, "00fneighbourapp").replace(STACK_NAME, NEIGHBOUR)
    return resource.replace(STACK_UUID.split("-")[0], "ffffffff")


def test_no_role_reaches_a_neighbouring_stacks_resources(deployed, iam_evaluator):
    """Each authorization the stack's calls need, aimed at the same resource of another stack, is refused:
    no grant's wildcard reaches past this stack (the job runs, the role passed, the queue, a log group)."""
    needed = authorizations(deployed, all_calls(deployed))
    probes = [replace(r, resource=in_neighbour_stack(deployed, r.resource)) for r in needed]
    probes = [probe for probe, request in zip(probes, needed, strict=True) if probe != request]
    assert {p.action for p in probes} >= {"iam:PassRole", "emr-serverless:StartJobRun", "s3:GetObject"}

    allowed = [d for d in iam_evaluator.evaluate(deployed.policies(), probes) if d.allowed]
    assert not allowed, lines(allowed)


def test_the_job_role_is_passed_to_emr_serverless_only(deployed, iam_evaluator):
    passes = [r for r in authorizations(deployed, all_calls(deployed)) if r.action == "iam:PassRole"]
    assert passes
    services = ["lambda.amazonaws.com", "states.amazonaws.com", "ec2.amazonaws.com", "glue.amazonaws.com"]
    probes = [replace(r, context={"iam:PassedToService": s}) for r in passes for s in services]

    allowed = [d for d in iam_evaluator.evaluate(deployed.policies(), probes) if d.allowed]
    assert not allowed, lines(allowed)


def test_the_check_finds_a_tagged_job_start_without_tag_permission(transformed, local, iam_evaluator):
    """Defect 1 put back: the state machine may not tag, yet its EMR task passes Tags."""
    broken = copy.deepcopy(transformed)
    statements, tagging = role_statement(broken, "StateMachineRole", "TagOrchardJobRuns")
    statements.remove(tagging)
    refused = denied(evaluate(iam_evaluator, deployment(broken, local), all_calls(deployment(broken, local))))

    assert refused, "removing TagResource went unnoticed"
    assert {d.request.action for d in refused} == {"emr-serverless:TagResource"}, lines(refused)
    assert {d.request.role for d in refused} == {"StateMachineRole"}


def test_the_check_finds_list_bucket_limited_to_prefixes(transformed, local, iam_evaluator):
    """Defect 2 put back: ListBucket only under an s3:prefix condition; EMRFS's HEADs of missing keys fail."""
    broken = copy.deepcopy(transformed)
    _, listing = role_statement(broken, "JobRole", "ListBucket")
    prefixes = ["${ImagesPrefix}*", "${ResultsPrefix}", "${ResultsPrefix}/*"]
    listing["Condition"] = {"StringLike": {"s3:prefix": [{"Fn::Sub": p} for p in prefixes]}}
    refused = denied(evaluate(iam_evaluator, deployment(broken, local), all_calls(deployment(broken, local))))

    assert refused, "the prefix condition went unnoticed"
    assert {(d.request.action, tuple(d.request.context)) for d in refused} == {("s3:ListBucket", ())}
    assert all(": HeadObject " in d.request.origin for d in refused), lines(refused)


def test_weights_from_s3_may_be_read_and_nothing_else_there(transformed, local, iam_evaluator):
    s3_weights = with_parameters(transformed, local, Weights=WEIGHTS)
    decisions = evaluate(iam_evaluator, s3_weights, all_calls(s3_weights, WEIGHTS))
    assert not denied(decisions), lines(denied(decisions))
    assert any(d.request.resource == "arn:aws:s3:::weights-bucket/mobilenet/no_top.h5" for d in decisions)

    others = ["mobilenet/other.h5", "mobilenet/no_top.h5x", "mobilenet/"]
    probes = [Request("JobRole", "s3:GetObject", f"arn:aws:s3:::weights-bucket/{key}") for key in others]
    probes.append(Request("JobRole", "s3:PutObject", "arn:aws:s3:::weights-bucket/mobilenet/no_top.h5"))
    assert not any(d.allowed for d in iam_evaluator.evaluate(s3_weights.policies(), probes))
    default = deployment(transformed, local)
    assert not [g for g in default.grants() if "weights-bucket" in g.resource]


def test_the_job_may_not_write_images_or_outside_its_folders(deployed, iam_evaluator):
    bucket = f"arn:aws:s3:::{deployed.resolver.refs['Bucket']}"
    keys = ["images/Apple/1.jpg", "images", "images_$folder$", "manifests/r.txt", "other/x", "results_x/y"]
    writes = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
    probes = [Request("JobRole", action, f"{bucket}/{key}") for action in writes for key in keys]
    probes += [Request("JobRole", "s3:DeleteObject", f"{bucket}/results_$folder$")]
    allowed = [d for d in iam_evaluator.evaluate(deployed.policies(), probes) if d.allowed]
    assert not allowed, lines(allowed)


def test_no_role_may_delete_images_and_retention_only_run_history(deployed, iam_evaluator):
    """Deleting images is for the bucket's owner; the catalog's retention may delete the folders of runs'
    history and the feature cache's unused partitions, never the run records, the carried-sums pointers, the
    cache's own folder or another dataset."""
    bucket, database = (
        f"arn:aws:s3:::{deployed.resolver.refs['Bucket']}",
        deployed.resolver.refs["GlueDatabase"],
    )
    images = ["images/Apple/1.jpg", "images/_Unsorted/.hidden.jpg", "images", "images_$folder$"]
    probes = [
        Request(role, "s3:DeleteObject", f"{bucket}/{key}") for role in deployed.role_arns for key in images
    ]
    kept = ["features_$folder$", "features/x", "run_records/r.json",
            "models/_snapshots/network.json", "pca_$folder$", "pca/x", "other/run_id=r/x"]  # fmt: skip
    probes += [Request("CatalogFunctionRole", "s3:DeleteObject", f"{bucket}/results/{key}") for key in kept]
    runs = f"arn:aws:glue:us-east-1:123456789012:table/{database}/runs"
    probes.append(Request("CatalogFunctionRole", "glue:BatchDeletePartition", runs))
    allowed = [d for d in iam_evaluator.evaluate(deployed.policies(), probes) if d.allowed]
    assert not allowed, lines(allowed)

    history = ["results/pca/run_id=r/part-0.parquet", "results/runs/run_id=r_$folder$", "manifests/r.txt",
               "results/features/run_id=r/part-0.parquet", "results/features/run_id=r_$folder$"]  # fmt: skip
    retire = [Request("CatalogFunctionRole", "s3:DeleteObject", f"{bucket}/{key}") for key in history]
    assert all(d.allowed for d in iam_evaluator.evaluate(deployed.policies(), retire))


def test_plain_http_is_refused_by_the_bucket_policy(deployed, iam_evaluator):
    key = f"arn:aws:s3:::{deployed.resolver.refs['Bucket']}/results/runs/x.json"
    insecure = Request("JobRole", "s3:GetObject", key, {"aws:SecureTransport": "false"})
    secure = Request("JobRole", "s3:GetObject", key)
    answers = iam_evaluator.evaluate(deployed.policies(), [insecure, secure])
    assert [a.decision for a in answers] == ["ExplicitlyDenied", "Allowed"]


def test_an_operation_missing_from_the_table_fails_the_check():
    with pytest.raises(UnmappedOperationError):
        requests(Call(JOB, "s3", "PutBucketPolicy", {"Bucket": "b"}), "JobRole")


def test_the_emr_task_is_derived_from_its_parameters(deployed):
    starts = [c for c in derived_calls(deployed) if c.operation == "StartJobRun"]
    [start] = starts
    assert start.caller == STATE_MACHINE
    assert start.params["tags"] == {"orchard:run-id": "<run id>"}
    assert start.params["executionRoleArn"] == deployed.role_arns["JobRole"]


@pytest.mark.parametrize(
    ("parameter", "good", "bad"),
    [("ImagesPrefix", ["images/", "uploads_2/"], ["a/b/", "images", "../", "*/"]),
     ("ResultsPrefix", ["results", "out.v2"], ["a/b", "results/", "..", "*"])],
)  # fmt: skip
def test_the_folders_are_single_names(template, parameter, good, bad):
    """The job role's grants name the folders' own keys: a nested prefix would need more markers."""
    pattern = template["Parameters"][parameter]["AllowedPattern"]
    assert all(re.fullmatch(pattern, value) for value in good)
    assert not any(re.fullmatch(pattern, value) for value in bad)
