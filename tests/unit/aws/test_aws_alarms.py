"""template.yaml's alarms and notifications, statically: the topic under its own KMS key, which services may
use the key and publish (on the conditions AWS documents), every alarm acting on the topic, the rule for runs
that never reach RecordFailure. Which roles may publish: test_aws_iam.py (the policy evaluator)."""

from __future__ import annotations

import json
from typing import Any

from aws_support import REPO

ALARM_TYPE = "AWS::CloudWatch::Alarm"
TOPIC = {"Ref": "NotificationTopic"}


def resources(template: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {name: r for name, r in template["Resources"].items() if r["Type"] == kind}


def statements(policy: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in policy["Statement"]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def test_the_topic_is_encrypted_with_a_customer_managed_key(template):
    [topic] = resources(template, "AWS::SNS::Topic").values()
    key = topic["Properties"]["KmsMasterKeyId"]
    assert key == {"Fn::GetAtt": ["NotificationKey", "Arn"]}  # not alias/aws/sns: alarms could not publish
    assert template["Resources"]["NotificationKey"]["Type"] == "AWS::KMS::Key"
    assert template["Resources"]["NotificationKey"]["Properties"]["EnableKeyRotation"] is True


def test_the_key_policy_lets_the_account_administer_and_alarms_and_the_rule_encrypt(template):
    policy = statements(template["Resources"]["NotificationKey"]["Properties"]["KeyPolicy"])
    admin = policy["AccountAdministersTheKey"]
    assert admin["Principal"] == {"AWS": {"Fn::Sub": "arn:${AWS::Partition}:iam::${AWS::AccountId}:root"}}
    assert admin["Action"] == "kms:*"
    services = {s["Principal"]["Service"]: s for s in policy.values() if "Service" in s.get("Principal", {})}
    assert set(services) == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}
    for statement in services.values():
        assert statement["Effect"] == "Allow"
        assert sorted(as_list(statement["Action"])) == ["kms:Decrypt", "kms:GenerateDataKey*"]
    condition = services["cloudwatch.amazonaws.com"]["Condition"]
    assert condition == {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}
    # SNS: source conditions in a key policy are not supported for EventBridge to an encrypted topic.
    assert "Condition" not in services["events.amazonaws.com"]


def test_the_topic_policy_admits_services_only_from_this_stacks_alarms_and_rule(template):
    [topic_policy] = resources(template, "AWS::SNS::TopicPolicy").values()
    assert topic_policy["Properties"]["Topics"] == [TOPIC]
    policy = statements(topic_policy["Properties"]["PolicyDocument"])
    for statement in policy.values():
        assert (statement["Action"], statement["Resource"]) == ("sns:Publish", TOPIC)
    services = {
        s["Principal"]["Service"]: s["Condition"] for s in policy.values() if "Service" in s["Principal"]
    }
    alarms = sorted(resources(template, ALARM_TYPE))
    assert services["cloudwatch.amazonaws.com"]["ArnEquals"]["aws:SourceArn"] == [
        {"Fn::GetAtt": [name, "Arn"]} for name in alarms
    ]
    assert services["cloudwatch.amazonaws.com"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    assert services["events.amazonaws.com"] == {
        "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": ["RunEndedRule", "Arn"]}}
    }
    [roles] = [s["Principal"]["AWS"] for s in policy.values() if "AWS" in s["Principal"]]
    assert roles[0] == {"Fn::GetAtt": ["RecordFailureFunctionRole", "Arn"]}
    assert roles[1] == {
        "Fn::If": [
            "NotifyPublishedRuns",
            {"Fn::GetAtt": ["CatalogFunctionRole", "Arn"]},
            {"Ref": "AWS::NoValue"},
        ]
    }


def test_every_alarm_acts_on_the_topic_and_watches_what_the_issue_names(template):
    alarms = {name: r["Properties"] for name, r in resources(template, ALARM_TYPE).items()}
    assert alarms
    for properties in alarms.values():
        assert properties["AlarmActions"] == [TOPIC]
        assert (properties["ComparisonOperator"], properties["Threshold"]) == ("GreaterThanThreshold", 0)
        assert properties["TreatMissingData"] == "notBreaching"
    watched = {(p["Namespace"], p["MetricName"]) for p in alarms.values()}
    assert watched == {
        ("AWS/SQS", "ApproximateNumberOfMessagesVisible"),
        ("AWS/States", "ExecutionsFailed"),
        ("AWS/States", "ExecutionsTimedOut"),
    }
    [dead_letters] = [p for p in alarms.values() if p["Namespace"] == "AWS/SQS"]
    assert dead_letters["Dimensions"] == [
        {"Name": "QueueName", "Value": {"Fn::GetAtt": ["ImageEventsDeadLetterQueue", "QueueName"]}}
    ]
    for machine in (p for p in alarms.values() if p["Namespace"] == "AWS/States"):
        assert machine["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "StateMachine"}}]


def test_runs_that_never_reach_record_failure_are_announced_by_the_rule(template):
    rule = template["Resources"]["RunEndedRule"]["Properties"]
    pattern = rule["EventPattern"]
    assert pattern["source"] == ["aws.states"]
    assert pattern["detail-type"] == ["Step Functions Execution Status Change"]
    assert sorted(pattern["detail"]["status"]) == ["ABORTED", "TIMED_OUT"]
    assert pattern["detail"]["stateMachineArn"] == [{"Ref": "StateMachine"}]
    [target] = rule["Targets"]
    assert target["Arn"] == TOPIC
    paths = target["InputTransformer"]["InputPathsMap"]
    assert paths["run_id"] == "$.detail.name"
    text = target["InputTransformer"]["InputTemplate"]["Fn::Sub"]
    assert all(f"<{name}>" in text for name in paths)
    assert "runs/run_id=<run_id>/report.html" in text and "orchard report <run_id>" in text
    assert text.startswith('"') and text.endswith('"')  # a JSON string: SNS receives it as the message


def test_the_definition_has_a_timeout():
    definition = json.loads((REPO / "statemachine" / "orchard.asl.json").read_text())
    assert 3600 <= definition["TimeoutSeconds"] <= 7 * 24 * 3600


def test_the_email_subscription_and_the_publish_notice_are_optional(template):
    parameters = template["Parameters"]
    assert parameters["NotificationEmail"]["Default"] == ""
    assert parameters["NotifyOnPublish"]["Default"] == "false"
    subscription = template["Resources"]["NotificationEmailSubscription"]
    assert subscription["Condition"] == "SubscribeEmail"
    assert subscription["Properties"]["Protocol"] == "email"
    catalog = template["Resources"]["CatalogFunction"]["Properties"]["Environment"]["Variables"]
    assert catalog["NOTIFICATION_TOPIC_ARN"] == {"Fn::If": ["NotifyPublishedRuns", TOPIC, ""]}
