"""The notifications' grants, evaluated as AWS would (docs/iam-check.md): who may publish to the topic and use
its key (the topic policy and the key policy evaluated as resource policies), nothing beyond, and the check
catching the defects put back. The calls of a real failed run: tests/integration/local/test_notifications.py
and tests/unit/local/test_local_iam.py."""

from __future__ import annotations

import copy
from typing import Any

from aws_support import NEIGHBOUR
from iam_calls import Call
from iam_check import denied, evaluate, lines
from iam_eval import Request
from iam_roles import JOB, STATE_MACHINE, Deployment, deployment, role_statement, with_parameters


def notification_calls(deployed: Deployment, caller: str) -> list[Call]:
    """What publishing to the encrypted topic makes AWS authorize for the caller (iam_record derives the KMS
    calls from each recorded Publish)."""
    topic, key = (
        deployed.resolver.refs["NotificationTopic"],
        deployed.resolver.attributes["NotificationKey.Arn"],
    )
    return [
        Call(caller, "sns", "Publish", {"TopicArn": topic}),
        *(Call(caller, "kms", op, {"KeyId": key}) for op in ("GenerateDataKey", "Decrypt")),
    ]


def publishers(deployed: Deployment, iam_evaluator: Any) -> set[str]:
    """The roles whose every notification authorization is allowed."""
    callers = [c for c in deployed.callers if c not in (STATE_MACHINE, JOB)]
    found = set()
    for caller in callers:
        if all(d.allowed for d in evaluate(iam_evaluator, deployed, notification_calls(deployed, caller))):
            found.add(deployed.callers[caller])
    return found


def test_only_the_failure_recorder_publishes_and_the_catalog_with_notify_on_publish(
    transformed, local, iam_evaluator
):
    assert publishers(deployment(transformed, local), iam_evaluator) == {"RecordFailureFunctionRole"}
    notifying = with_parameters(transformed, local, NotifyOnPublish="true")
    assert publishers(notifying, iam_evaluator) == {"RecordFailureFunctionRole", "CatalogFunctionRole"}


def test_no_role_may_publish_elsewhere_or_use_a_key_beyond_encrypting_for_the_topic(
    transformed, local, iam_evaluator
):
    notifying = with_parameters(transformed, local, NotifyOnPublish="true")
    key = notifying.resolver.attributes["NotificationKey.Arn"]
    for grant in notifying.grants():
        assert not (grant.action.startswith(("sns:", "kms:")) and grant.resource == "*"), grant
    other_topic = f"arn:aws:sns:us-east-1:123456789012:{NEIGHBOUR}-notifications"
    other_key = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    topic = notifying.resolver.refs["NotificationTopic"]
    probes = [
        Request(role, action, resource)
        for role in notifying.role_arns
        for action, resource in [
            ("sns:Publish", other_topic),
            ("sns:Subscribe", topic),
            ("sns:SetTopicAttributes", topic),
            ("kms:GenerateDataKey", other_key),
            ("kms:Decrypt", other_key),
            ("kms:Encrypt", key),
            ("kms:ReEncryptFrom", key),
            ("kms:PutKeyPolicy", key),
            ("kms:ScheduleKeyDeletion", key),
        ]
    ]
    allowed = [d for d in iam_evaluator.evaluate(notifying.policies(), probes) if d.allowed]
    assert not allowed, lines(allowed)


def test_the_check_finds_a_publisher_without_its_key_and_a_key_policy_without_the_account(
    transformed, local, iam_evaluator
):
    """The notifications' defects put back: the failure recorder may publish but not encrypt; the key policy
    no longer lets the account's IAM policies grant the key (the evaluator reads key policies as KMS does)."""
    broken = copy.deepcopy(transformed)
    statements, encrypt = role_statement(broken, "RecordFailureFunctionRole", "EncryptNotifications")
    statements.remove(encrypt)
    without_grant = deployment(broken, local)

    broken = copy.deepcopy(transformed)
    key_policy = broken["Resources"]["NotificationKey"]["Properties"]["KeyPolicy"]["Statement"]
    key_policy[:] = [s for s in key_policy if s["Sid"] != "AccountAdministersTheKey"]
    without_account = deployment(broken, local)

    for defective in (without_grant, without_account):
        calls = notification_calls(defective, "orchard-recordfailure")
        refused = denied(evaluate(iam_evaluator, defective, calls))
        assert {d.request.action for d in refused} == {"kms:GenerateDataKey", "kms:Decrypt"}, lines(refused)
