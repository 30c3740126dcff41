"""Security properties of template.yaml (after the SAM transform) and of the repository's files.

Least privilege itself is the IAM check's (test_aws_iam.py here, tests/unit/local/test_local_iam.py): every
call a component makes is allowed for its role, and every grant is used by some call (docs/iam-check.md).
Secrets and account ids: test_aws_secrets.py.
"""

from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any

from aws_support import as_list, policy_statements, resources_of

BUCKET_ARN = "${Bucket.Arn}"


def ref(name: str) -> str:
    """How render() writes !Ref name (and "X.Arn" for !GetAtt X.Arn)."""
    return "${" + name + "}"


# Object writes go under these prefixes only (never the images prefix); at the bucket's root, only the results
# folder's directory marker (EMRFS's mkdirs writes it).
WRITE_PREFIXES = ("manifests/", "${ResultsPrefix}/", "logs/")
ROOT_MARKERS = ("${ResultsPrefix}_$folder$",)
TRUSTED_SERVICES = {"lambda.amazonaws.com", "states.amazonaws.com", "emr-serverless.amazonaws.com"}
# Parameter defaults, to turn resource patterns into concrete ARNs.
CONCRETE = {
    "${Bucket.Arn}": "arn:aws:s3:::bucket",
    "${ImagesPrefix}": "images/",
    "${ResultsPrefix}": "results",
}


def render(value: Any) -> str:
    """A resource (string or intrinsic) as one string: !Ref X -> ${X}, !GetAtt X.Y -> ${X.Y}, !Sub inlined."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        [(function, argument)] = value.items()
        if function == "Ref":
            return ref(argument)
        if function == "Fn::GetAtt":
            return ref(".".join(as_list(argument)))
        if function == "Fn::Sub" and isinstance(argument, str):
            return argument
        if function == "Fn::Sub":
            text, variables = argument
            for name, variable in variables.items():
                text = text.replace(ref(name), render(variable))
            return str(text)
    return repr(value)  # another intrinsic stays as its repr, which matches no concrete key


def all_statements(transformed: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Roles' inline policies plus any standalone AWS::IAM::Policy / ManagedPolicy."""
    found = policy_statements(transformed)
    for kind in ("AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"):
        for name, properties in resources_of(transformed, kind).items():
            found += [(name, s) for s in as_list(properties["PolicyDocument"]["Statement"])]
    return found


def grants(transformed: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(role, action, rendered resource, statement) for every Allow."""
    return [
        (role, action, render(resource), statement)
        for role, statement in all_statements(transformed)
        if statement["Effect"] == "Allow"
        for action in as_list(statement.get("Action", []))
        for resource in as_list(statement.get("Resource", []))
    ]


def role_of_function(transformed: dict[str, Any]) -> dict[str, str]:
    """Function -> the logical id of its execution role (given explicitly as !GetAtt <Role>.Arn)."""
    functions = resources_of(transformed, "AWS::Lambda::Function")
    return {f: p["Role"]["Fn::GetAtt"][0] for f, p in functions.items()}


def function_name(transformed: dict[str, Any], function: str) -> str:
    """The function's FunctionName as render() writes it (its Ref when the template leaves it unnamed)."""
    properties = resources_of(transformed, "AWS::Lambda::Function")[function]
    return render(properties.get("FunctionName", {"Ref": function}))


def log_group_of_function(transformed: dict[str, Any], function: str) -> str | None:
    """The logical id of the declared log group /aws/lambda/<function name>, if any."""
    name = function_name(transformed, function)
    groups = resources_of(transformed, "AWS::Logs::LogGroup")
    return next((g for g, p in groups.items() if render(p["LogGroupName"]) == f"/aws/lambda/{name}"), None)


def concrete(resource: str) -> str:
    for placeholder, value in CONCRETE.items():
        resource = resource.replace(placeholder, value)
    return resource


def is_s3_write(action: str) -> bool:
    return action.startswith("s3:") and not action.startswith(("s3:Get", "s3:List"))


def test_no_action_contains_a_wildcard(transformed):
    for role, statement in all_statements(transformed):
        assert "NotAction" not in statement and "NotResource" not in statement, (role, statement)
        for action in as_list(statement.get("Action", [])):
            assert "*" not in action and "?" not in action, (role, action)


def test_object_writes_are_confined_to_their_prefixes(transformed):
    writes = [
        (role, action, resource) for role, action, resource, _ in grants(transformed) if is_s3_write(action)
    ]
    assert writes
    for grant in writes:
        resource = grant[2]
        assert resource.startswith(BUCKET_ARN + "/"), grant
        key = resource.removeprefix(BUCKET_ARN + "/")
        assert key.startswith(WRITE_PREFIXES) or key in ROOT_MARKERS, grant
        for outside in ("x", "other/x", "images/Label/x.jpg"):
            assert not fnmatchcase(f"arn:aws:s3:::bucket/{outside}", concrete(resource)), grant


def test_images_prefix_is_read_only_for_every_role(transformed):
    image = "arn:aws:s3:::bucket/images/Label/cat.jpg"
    for role, action, resource, _ in grants(transformed):
        if action.startswith("s3:") and fnmatchcase(image, concrete(resource)):
            assert action.startswith(("s3:Get", "s3:List")), (role, action, resource)


def test_roles_trust_only_the_stack_services(transformed):
    for name, role in resources_of(transformed, "AWS::IAM::Role").items():
        for statement in role["AssumeRolePolicyDocument"]["Statement"]:
            assert set(statement["Principal"]) == {"Service"}, name
            assert set(as_list(statement["Principal"]["Service"])) <= TRUSTED_SERVICES, name


def test_no_role_has_a_managed_policy(transformed):
    # SAM attaches AWSLambdaBasicExecutionRole (and AWSLambdaSQSQueueExecutionRole) to the roles it generates
    # for functions without Role: those grant logs and queue actions on "*".
    roles = resources_of(transformed, "AWS::IAM::Role")
    assert roles
    for name, role in roles.items():
        assert not role.get("ManagedPolicyArns"), (name, role.get("ManagedPolicyArns"))


def test_every_function_has_its_own_role_and_log_group(transformed):
    roles = resources_of(transformed, "AWS::IAM::Role")
    role_of = role_of_function(transformed)
    assert role_of
    assert len(set(role_of.values())) == len(role_of), role_of  # no role shared between functions
    for function, role in role_of.items():
        for statement in roles[role]["AssumeRolePolicyDocument"]["Statement"]:
            assert set(statement["Principal"]) == {"Service"}, (function, role)
            assert as_list(statement["Principal"]["Service"]) == ["lambda.amazonaws.com"], (function, role)
        assert log_group_of_function(transformed, function), function


def test_no_iam_users_or_access_keys(transformed):
    kinds = {r["Type"] for r in transformed["Resources"].values()}
    assert not kinds & {"AWS::IAM::User", "AWS::IAM::AccessKey", "AWS::IAM::Group"}


def test_bucket_is_private_owner_enforced_encrypted_and_tls_only(transformed):
    buckets = resources_of(transformed, "AWS::S3::Bucket")
    assert buckets
    for name, bucket in buckets.items():
        assert bucket["PublicAccessBlockConfiguration"] == {
            "BlockPublicAcls": True,
            "BlockPublicPolicy": True,
            "IgnorePublicAcls": True,
            "RestrictPublicBuckets": True,
        }, name
        assert bucket["OwnershipControls"]["Rules"] == [{"ObjectOwnership": "BucketOwnerEnforced"}], name
        assert "AccessControl" not in bucket and "WebsiteConfiguration" not in bucket, name
        rules = bucket["BucketEncryption"]["ServerSideEncryptionConfiguration"]
        assert rules, name
        for rule in rules:
            algorithm = rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"]
            assert algorithm in {"AES256", "aws:kms", "aws:kms:dsse"}, name
        policies = [
            p["PolicyDocument"]["Statement"]
            for p in resources_of(transformed, "AWS::S3::BucketPolicy").values()
            if p["Bucket"] == {"Ref": name}
        ]
        assert len(policies) == 1, name
        assert_denies_plain_http(name, policies[0])


def assert_denies_plain_http(bucket: str, statements: list[dict[str, Any]]) -> None:
    denies = [
        s
        for s in statements
        if s["Effect"] == "Deny"
        and s["Principal"] in ("*", {"AWS": "*"})
        and as_list(s["Action"]) in (["s3:*"], ["*"])
        and s.get("Condition") == {"Bool": {"aws:SecureTransport": "false"}}
    ]
    assert denies, bucket
    covered = {render(r) for s in denies for r in as_list(s["Resource"])}
    assert {ref(f"{bucket}.Arn"), ref(f"{bucket}.Arn") + "/*"} <= covered, covered
    public = [s for s in statements if s["Effect"] == "Allow" and s.get("Principal") in ("*", {"AWS": "*"})]
    assert public == [], bucket


def test_athena_results_are_encrypted_enforced_and_in_the_stack_bucket(transformed):
    workgroups = resources_of(transformed, "AWS::Athena::WorkGroup")
    assert workgroups
    for name, workgroup in workgroups.items():
        configuration = workgroup["WorkGroupConfiguration"]
        assert configuration["EnforceWorkGroupConfiguration"] is True, name
        results = configuration["ResultConfiguration"]
        encryption = results["EncryptionConfiguration"]["EncryptionOption"]
        assert encryption in {"SSE_S3", "SSE_KMS", "CSE_KMS"}, name
        assert render(results["OutputLocation"]) == "s3://${Bucket}/athena-results/", name


def test_queues_are_encrypted(transformed):
    queues = resources_of(transformed, "AWS::SQS::Queue")
    assert queues
    for name, queue in queues.items():
        assert queue.get("SqsManagedSseEnabled") is True or "KmsMasterKeyId" in queue, name


def test_queue_policy_only_lets_the_stack_bucket_send(transformed):
    [bucket] = resources_of(transformed, "AWS::S3::Bucket").values()
    bucket_arn = "arn:${AWS::Partition}:s3:::" + render(bucket["BucketName"])
    policies = resources_of(transformed, "AWS::SQS::QueuePolicy")
    assert policies
    for name, policy in policies.items():
        for statement in as_list(policy["PolicyDocument"]["Statement"]):
            if statement["Effect"] != "Allow":
                continue
            assert statement["Principal"] == {"Service": "s3.amazonaws.com"}, name
            assert as_list(statement["Action"]) == ["sqs:SendMessage"], name
            condition = statement["Condition"]
            source_arn = condition.get("ArnEquals", condition.get("ArnLike", {}))["aws:SourceArn"]
            assert render(source_arn) == bucket_arn, name
            assert condition["StringEquals"]["aws:SourceAccount"] == {"Ref": "AWS::AccountId"}, name


def test_functions_are_not_publicly_invocable(transformed):
    assert resources_of(transformed, "AWS::Lambda::Url") == {}
    for name, permission in resources_of(transformed, "AWS::Lambda::Permission").items():
        assert permission["Principal"] not in ("*", {"AWS": "*"}), name
        assert permission["Principal"].endswith(".amazonaws.com"), name
        assert "SourceArn" in permission or "SourceAccount" in permission, name
