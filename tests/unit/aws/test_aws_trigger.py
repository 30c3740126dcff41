"""trigger: S3 upload batches -> one manifest + one execution, on moto S3/SQS/Step Functions."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from aws_support import BUCKET, REGION
from moto.stepfunctions.models import stepfunctions_backends

from functions.trigger import app as trigger

ROLE = "arn:aws:iam::123456789012:role/orchard-states"
ACCOUNT = "123456789012"  # moto's default account
DEFINITION = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}})


@pytest.fixture
def state_machine(session: boto3.Session) -> str:
    arn: str = session.client("stepfunctions").create_state_machine(
        name="orchard", definition=DEFINITION, roleArn=ROLE
    )["stateMachineArn"]
    return arn


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, state_machine: str) -> None:
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("IMAGES_PREFIX", "images/")
    monkeypatch.setenv("MANIFESTS_PREFIX", "manifests/")
    monkeypatch.setenv("STATE_MACHINE_ARN", state_machine)


def finish(execution_arn: str, status: str) -> None:
    """End an execution as Step Functions would (moto runs none here): status and stop date."""
    execution = stepfunctions_backends[ACCOUNT][REGION].describe_execution(execution_arn)
    execution.status = status
    execution.stop_date = datetime.now(UTC)


def executions(session: boto3.Session, state_machine: str) -> list[dict[str, Any]]:
    sfn = session.client("stepfunctions")
    listed = sfn.list_executions(stateMachineArn=state_machine)["executions"]
    return [sfn.describe_execution(executionArn=e["executionArn"]) for e in listed]


def read_manifest(session: boto3.Session, uri: str) -> str:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    return str(session.client("s3").get_object(Bucket=bucket, Key=key)["Body"].read().decode())


def manifest_uris(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


@pytest.mark.usefixtures("env")
def test_sqs_batch_starts_one_execution_with_decoded_keys(session, state_machine, load_event, context):
    response = trigger.lambda_handler(load_event("sqs_s3_batch.json"), context)

    assert response["batchItemFailures"] == []
    [execution] = executions(session, state_machine)
    execution_input = json.loads(execution["input"])
    assert execution_input == {"manifest": response["run"]["manifest"], "image_count": 3, "removed_count": 0}
    # Keys decoded exactly once: '+' is a space, %2B a literal plus, UTF-8 escapes become the characters.
    assert manifest_uris(read_manifest(session, execution_input["manifest"])) == [
        f"s3://{BUCKET}/images/Apple Braeburn/apple 1.jpg",
        f"s3://{BUCKET}/images/Banana/banana+ripe.JPEG",
        f"s3://{BUCKET}/images/Äpfel/größe_1.png",
    ]
    assert execution_input["manifest"] == f"s3://{BUCKET}/manifests/{execution['name']}.txt"


@pytest.mark.usefixtures("env")
def test_execution_name_is_short_sortable_and_allowed(session, state_machine, load_event, context):
    trigger.lambda_handler(load_event("sqs_s3_batch.json"), context)

    [execution] = executions(session, state_machine)
    # Latest eventTime of the batch, then the manifest digest; fits the 64-char EMR ClientToken.
    assert re.fullmatch(r"orchard-20250314T092655Z-[0-9a-f]{32}", execution["name"])


@pytest.mark.usefixtures("env")
def test_redelivered_batch_does_not_start_a_second_run(session, state_machine, load_event, context):
    event = load_event("sqs_s3_batch.json")
    first = trigger.lambda_handler(event, context)
    # Step Functions answers a same-name, same-input start of a running execution with that execution...
    while_running = trigger.lambda_handler(event, context)
    finish(first["run"]["execution_arn"], "SUCCEEDED")
    # ...and with ExecutionAlreadyExists once it has closed: nothing more to do.
    after_close = trigger.lambda_handler(event, context)

    assert len(executions(session, state_machine)) == 1
    assert while_running["run"]["execution_arn"] == first["run"]["execution_arn"]
    assert after_close["run"] == {**first["run"], "started": False}
    assert after_close["batchItemFailures"] == []


@pytest.mark.usefixtures("env")
@pytest.mark.parametrize("ending", ["FAILED", "ABORTED", "TIMED_OUT"])
def test_redelivered_batch_of_a_failed_run_starts_one_retry(
    session, state_machine, load_event, context, ending
):
    event = load_event("sqs_s3_batch.json")
    first = trigger.lambda_handler(event, context)
    finish(first["run"]["execution_arn"], ending)
    retry = trigger.lambda_handler(event, context)
    again = trigger.lambda_handler(event, context)  # redelivered while the retry runs

    assert retry["run"]["started"] is True
    assert retry["run"]["execution_name"] == first["run"]["execution_name"] + "-r2"
    assert retry["run"]["manifest"] == first["run"]["manifest"]
    assert again["run"]["execution_arn"] == retry["run"]["execution_arn"]
    assert sorted(e["name"] for e in executions(session, state_machine)) == [
        first["run"]["execution_name"],
        retry["run"]["execution_name"],
    ]


@pytest.mark.usefixtures("env")
def test_a_batch_that_keeps_failing_goes_back_to_the_queue(session, state_machine, load_event, context):
    event = load_event("sqs_s3_batch.json")
    for _ in range(trigger.MAX_ATTEMPTS):
        finish(trigger.lambda_handler(event, context)["run"]["execution_arn"], "FAILED")
    exhausted = trigger.lambda_handler(event, context)

    assert "run" not in exhausted
    assert exhausted["batchItemFailures"] == [  # the messages that carried images
        {"itemIdentifier": event["Records"][0]["messageId"]},
        {"itemIdentifier": event["Records"][1]["messageId"]},
    ]


@pytest.mark.usefixtures("env")
def test_deletions_start_a_run_that_lists_them_as_removed(session, state_machine, load_event, context):
    event = load_event("s3_put.json")
    trigger.lambda_handler(event, context)
    record = event["Records"][0]
    record["eventName"] = "ObjectRemoved:Delete"
    record["s3"]["object"] = {"key": record["s3"]["object"]["key"], "sequencer": "0065F1A2B3C4D5E7FF"}
    removed = trigger.lambda_handler(event, context)

    text = read_manifest(session, removed["run"]["manifest"])
    assert manifest_uris(text) == []
    assert f"# removed s3://{BUCKET}/images/" in text
    assert json.loads(executions(session, state_machine)[0]["input"])["removed_count"] == 1


@pytest.mark.usefixtures("env")
def test_reupload_of_the_same_key_is_a_new_run(session, state_machine, load_event, context):
    event = load_event("s3_put.json")
    trigger.lambda_handler(event, context)
    event["Records"][0]["s3"]["object"]["sequencer"] = "0065F1A2B3C4D5E7FF"
    event["Records"][0]["s3"]["object"]["eTag"] = "0cc175b9c0f1b6a831c399e269772661"
    trigger.lambda_handler(event, context)

    assert len(executions(session, state_machine)) == 2


@pytest.mark.usefixtures("env")
def test_direct_s3_notification(session, state_machine, load_event, context):
    response = trigger.lambda_handler(load_event("s3_put.json"), context)

    [execution] = executions(session, state_machine)
    manifest = read_manifest(session, json.loads(execution["input"])["manifest"])
    assert manifest_uris(manifest) == [f"s3://{BUCKET}/images/Apple Braeburn/apple 1.jpg"]
    assert response["batchItemFailures"] == []


@pytest.mark.usefixtures("env")
def test_s3_test_event_is_ignored(session, state_machine, load_event, context):
    response = trigger.lambda_handler(load_event("sqs_s3_test_event.json"), context)

    assert response == {"batchItemFailures": []}
    assert executions(session, state_machine) == []


@pytest.mark.usefixtures("env")
def test_folder_markers_and_other_keys_start_nothing(session, state_machine, load_event, context):
    event = load_event("sqs_s3_batch.json")
    event["Records"] = [event["Records"][2]]  # images/Cherry/ and images/Cherry/notes.txt

    assert trigger.lambda_handler(event, context) == {"batchItemFailures": []}
    assert executions(session, state_machine) == []
    assert "Contents" not in session.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="manifests/")


@pytest.mark.usefixtures("env")
def test_malformed_message_fails_alone(session, state_machine, load_event, context):
    event = load_event("sqs_s3_batch.json")
    event["Records"][3]["body"] = "not json"

    response = trigger.lambda_handler(event, context)

    assert response["batchItemFailures"] == [{"itemIdentifier": event["Records"][3]["messageId"]}]
    assert len(executions(session, state_machine)) == 1


def test_failed_start_reports_every_image_message(session, monkeypatch, load_event, context):
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    missing = f"arn:aws:states:{REGION}:123456789012:stateMachine:missing"
    monkeypatch.setenv("STATE_MACHINE_ARN", missing)
    event = load_event("sqs_s3_batch.json")

    response = trigger.lambda_handler(event, context)

    # Both messages that carried images come back; the marker-only and test-event messages are done.
    assert response["batchItemFailures"] == [
        {"itemIdentifier": event["Records"][0]["messageId"]},
        {"itemIdentifier": event["Records"][1]["messageId"]},
    ]


def test_real_bucket_notification_round_trip(session, monkeypatch, state_machine, context):
    """A real S3 -> SQS notification from moto, consumed as the Lambda event source would deliver it."""
    monkeypatch.setenv("BUCKET_NAME", BUCKET)
    monkeypatch.setenv("STATE_MACHINE_ARN", state_machine)
    sqs = session.client("sqs")
    queue_url = sqs.create_queue(QueueName="uploads")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    s3 = session.client("s3")
    s3.put_bucket_notification_configuration(
        Bucket=BUCKET,
        NotificationConfiguration={
            "QueueConfigurations": [
                {
                    "QueueArn": queue_arn,
                    "Events": ["s3:ObjectCreated:*"],
                    "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "images/"}]}},
                }
            ]
        },
    )
    for key in ("images/Kiwi/a b+c.jpg", "images/Kiwi/ü.PNG", "images/Kiwi/"):
        s3.put_object(Bucket=BUCKET, Key=key, Body=b"x")
    messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10)["Messages"]
    event = {
        "Records": [
            {"messageId": m["MessageId"], "body": m["Body"], "eventSource": "aws:sqs", "receiptHandle": "rh"}
            for m in messages
        ]
    }

    response = trigger.lambda_handler(event, context)

    assert response["batchItemFailures"] == []
    manifest = read_manifest(session, response["run"]["manifest"])
    assert sorted(manifest_uris(manifest)) == [
        f"s3://{BUCKET}/images/Kiwi/a b+c.jpg",
        f"s3://{BUCKET}/images/Kiwi/ü.PNG",
    ]
