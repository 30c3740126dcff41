"""The local stack's alarms and notifications, from template.yaml: the topic's KMS key, the topic (and its
e-mail subscription when NotificationEmail is set), the rule for runs that time out or are stopped, and the
alarms, all in moto. moto enforces neither the key nor the policies (the IAM check evaluates them).

Locally nobody reads e-mail: an SQS queue of the local stack's own (no part of the template) is subscribed to
the topic, so that a person (``received``) or a test sees what was announced.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from orchard.local import template as tpl

if TYPE_CHECKING:
    from orchard.local.stack import LocalStack

INBOX = f"{tpl.STACK_NAME}-notifications-inbox"
ALARMS = ("DeadLetterAlarm", "ExecutionsFailedAlarm", "ExecutionsTimedOutAlarm")


def deploy_topic(stack: LocalStack) -> None:
    """The key, the topic and its subscriptions (before the functions: their environment names the topic)."""
    r, resources = stack.resolver, stack.template["Resources"]
    key_properties = r.resolve(resources["NotificationKey"]["Properties"])
    key = stack.client("kms").create_key(
        Description=key_properties["Description"], Policy=json.dumps(key_properties["KeyPolicy"])
    )["KeyMetadata"]
    r.refs["NotificationKey"], r.attributes["NotificationKey.Arn"] = key["KeyId"], key["Arn"]
    topic_properties = r.resolve(resources["NotificationTopic"]["Properties"])
    attributes = {"DisplayName": topic_properties["DisplayName"], "KmsMasterKeyId": key["Arn"]}
    sns = stack.client("sns")
    topic = sns.create_topic(Name=topic_properties["TopicName"], Attributes=attributes)["TopicArn"]
    r.refs["NotificationTopic"] = topic
    r.attributes["NotificationTopic.TopicName"] = topic_properties["TopicName"]
    if r.condition(resources["NotificationEmailSubscription"]["Condition"]):
        email = r.resolve(resources["NotificationEmailSubscription"]["Properties"])
        sns.subscribe(TopicArn=topic, Protocol=email["Protocol"], Endpoint=email["Endpoint"])
    sqs = stack.client("sqs")
    inbox = sqs.create_queue(QueueName=INBOX)["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=inbox, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)
    stack.inbox_url = inbox


def deploy_watchers(stack: LocalStack) -> None:
    """The rule and the alarms (after the state machine and the queues they watch)."""
    r, resources = stack.resolver, stack.template["Resources"]
    r.attributes["ImageEventsDeadLetterQueue.QueueName"] = r.attributes[
        "ImageEventsDeadLetterQueue.Arn"
    ].rsplit(":", 1)[-1]
    rule = r.resolve(resources["RunEndedRule"]["Properties"])
    events = stack.client("events")
    name = f"{tpl.STACK_NAME}-RunEndedRule"
    r.attributes["RunEndedRule.Arn"] = events.put_rule(
        Name=name, EventPattern=json.dumps(rule["EventPattern"]), State=rule["State"]
    )["RuleArn"]
    events.put_targets(Rule=name, Targets=rule["Targets"])
    cloudwatch = stack.client("cloudwatch")
    for logical_id in ALARMS:
        alarm = r.resolve(resources[logical_id]["Properties"])
        cloudwatch.put_metric_alarm(**alarm)
        [described] = cloudwatch.describe_alarms(AlarmNames=[alarm["AlarmName"]])["MetricAlarms"]
        r.attributes[f"{logical_id}.Arn"] = described["AlarmArn"]


def received(stack: LocalStack) -> list[dict[str, Any]]:
    """What the topic delivered since the last call (subject and message of each), oldest first."""
    sqs, found = stack.client("sqs"), []
    while messages := sqs.receive_message(QueueUrl=stack.inbox_url, MaxNumberOfMessages=10).get(
        "Messages", []
    ):
        for message in messages:
            body = json.loads(message["Body"])
            found.append({"subject": body.get("Subject"), "message": body["Message"]})
            sqs.delete_message(QueueUrl=stack.inbox_url, ReceiptHandle=message["ReceiptHandle"])
    return found
