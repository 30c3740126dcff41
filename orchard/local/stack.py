"""The local stack: what template.yaml declares, provisioned in moto with boto3 (moto's CloudFormation cannot
deploy this SAM template), and the state machine created from the very statemachine/*.asl.json with the
template's DefinitionSubstitutions. Bound locally: Lambda Invoke (in-process handlers, ``invoke.py``), the EMR
Serverless task (``job_runner.rebind_emr_tasks``), and what moto's interpreter lacks for the
``aws-sdk:emrserverless`` integration (``sdk_integration.py``, ``moto_gaps.py``).
"""

from __future__ import annotations

import io
import json
import threading
import zipfile
from collections.abc import Mapping
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from moto import mock_aws

from orchard.local import REPO, moto_gaps, moto_sqs, notifications, sdk_integration
from orchard.local import template as tpl
from orchard.local.function_env import function_environment, process_environment
from orchard.local.invoke import Functions, function_arn, load_handler
from orchard.local.job_runner import JobRunner, rebind_emr_tasks
from orchard.local.mirror import Mirror

# Local values for template parameters that have no usable default here (no ECR image, no ImageNet file).
LOCAL_PARAMETERS = {
    "ImageUri": f"{tpl.ACCOUNT_ID}.dkr.ecr.{tpl.REGION}.amazonaws.com/orchard:local",
    "Weights": "random",
    # moto lists executions consistently and local runs are short: take turns without settling, poll often.
    "TurnPollSeconds": "1",
    "TurnSettleSeconds": "0",
}
JOB_RUNNER = f"{tpl.STACK_NAME}-job-runner"
MOTO_CONFIG: Any = {"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}
FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": tpl.REGION,
}


@dataclass
class LocalStack:
    """Use as a context manager: moto runs in-process for the stack's lifetime."""

    state_dir: Path
    parameters: Mapping[str, str] = field(default_factory=dict)
    cores: int = 2
    echo: bool = True
    functions: Functions = field(default_factory=Functions)
    outputs: dict[str, str] = field(default_factory=dict)
    inbox_url: str = ""  # the local queue subscribed to the notification topic (notifications.py)

    def __enter__(self) -> LocalStack:
        self._restore = ExitStack()
        self._restore.enter_context(process_environment(FAKE_CREDENTIALS))  # never the user's credentials
        self._mock = mock_aws(config=MOTO_CONFIG)
        self._mock.start()
        # moto resets boto3's default session when it starts: install the bindings after it. The interpreter
        # calls through the default session; the local tooling through its own (plain boto3 answers).
        boto3.setup_default_session(region_name=tpl.REGION)
        assert boto3.DEFAULT_SESSION is not None
        self.session = boto3.Session(region_name=tpl.REGION)
        self._clients: dict[str, Any] = {}
        self._clients_lock = threading.Lock()
        for session in (boto3.DEFAULT_SESSION, self.session):
            session.events.register_first("before-send.lambda.Invoke", self.functions.before_send)
        sdk_integration.install(boto3.DEFAULT_SESSION)
        moto_gaps.apply()
        moto_sqs.apply()
        self.template = tpl.load_template()
        self.resolver = tpl.Resolver(self.template, {**LOCAL_PARAMETERS, **self.parameters})
        return self

    def __exit__(self, *_: object) -> None:
        self._mock.stop()
        boto3.DEFAULT_SESSION = None  # drop the bindings with the stack
        self._restore.close()

    def client(self, service: str) -> Any:
        """One client per service, made on first use by whichever thread asks first."""
        with self._clients_lock:
            if service not in self._clients:
                self._clients[service] = self.session.client(service)
            return self._clients[service]

    @property
    def mirror(self) -> Mirror:
        return Mirror(self.state_dir / "mirror", self.outputs["BucketName"], self.client("s3"))

    def deploy(self) -> None:
        """Everything but the bucket notification (``connect_notifications``: after a state restore)."""
        r, resources = self.resolver, self.template["Resources"]
        bucket = r.resolve(resources["Bucket"]["Properties"]["BucketName"])
        self.client("s3").create_bucket(Bucket=bucket)
        r.refs["Bucket"], r.attributes["Bucket.Arn"] = bucket, f"arn:aws:s3:::{bucket}"
        self._queues()
        notifications.deploy_topic(self)
        database = r.resolve(resources["GlueDatabase"]["Properties"]["DatabaseInput"]["Name"])
        self.client("glue").create_database(DatabaseInput={"Name": database})
        r.refs["GlueDatabase"] = database
        role = self.client("iam").create_role(
            RoleName=f"{tpl.STACK_NAME}-JobRole", AssumeRolePolicyDocument="{}"
        )["Role"]["Arn"]
        r.attributes["JobRole.Arn"] = role
        self._emr_application()
        self._functions(role)
        self._state_machine(role)
        notifications.deploy_watchers(self)
        # No Athena locally (orchard query runs the SQL on DuckDB); the workgroup keeps its declared name.
        r.refs["AthenaWorkGroup"] = r.resolve(resources["AthenaWorkGroup"]["Properties"]["Name"])
        self.outputs = {
            name: str(r.resolve(output["Value"])) for name, output in self.template["Outputs"].items()
        }

    def _queues(self) -> None:
        sqs, r = self.client("sqs"), self.resolver
        dlq = sqs.create_queue(QueueName=f"{tpl.STACK_NAME}-ImageEventsDeadLetterQueue")["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        r.attributes["ImageEventsDeadLetterQueue.Arn"] = dlq_arn
        props = r.resolve(self.template["Resources"]["ImageEventsQueue"]["Properties"])
        attributes = {
            "VisibilityTimeout": str(props["VisibilityTimeout"]),
            "RedrivePolicy": json.dumps(props["RedrivePolicy"]),
        }
        self.queue_url = sqs.create_queue(
            QueueName=f"{tpl.STACK_NAME}-ImageEventsQueue", Attributes=attributes
        )["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]
        r.attributes["ImageEventsQueue.Arn"] = arn["QueueArn"]

    def connect_notifications(self) -> None:
        """The bucket's NotificationConfiguration from the template (uploads under images/ -> the queue)."""
        config = self.resolver.resolve(
            self.template["Resources"]["Bucket"]["Properties"]["NotificationConfiguration"]
        )
        queues = [
            {
                "QueueArn": q["Queue"],
                "Events": [q["Event"]],
                "Filter": {"Key": {"FilterRules": q["Filter"]["S3Key"]["Rules"]}},
            }
            for q in config["QueueConfigurations"]
        ]
        self.client("s3").put_bucket_notification_configuration(
            Bucket=self.outputs["BucketName"], NotificationConfiguration={"QueueConfigurations": queues}
        )

    def _emr_application(self) -> None:
        props = self.resolver.resolve(self.template["Resources"]["EmrApplication"]["Properties"])
        created = self.client("emr-serverless").create_application(
            name=props["Name"], releaseLabel=props["ReleaseLabel"], type=props["Type"].upper()
        )
        self.resolver.attributes["EmrApplication.ApplicationId"] = created["applicationId"]
        self.resolver.attributes["EmrApplication.Arn"] = created["arn"]

    def _functions(self, role: str) -> None:
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("app.py", "# runs in-process locally (orchard.local.invoke)\n")
        for spec in tpl.functions(self.template):
            self.client("lambda").create_function(
                FunctionName=spec.name,
                Runtime="python3.12",
                Role=role,
                Handler=spec.handler,
                Code={"ZipFile": code.getvalue()},
            )
            self.resolver.refs[spec.logical_id] = spec.name
            self.resolver.attributes[f"{spec.logical_id}.Arn"] = function_arn(spec.name)

    def _state_machine(self, role: str) -> None:
        props = self.template["Resources"]["StateMachine"]["Properties"]
        substitutions = self.resolver.resolve(props["DefinitionSubstitutions"])
        text = (REPO / props["DefinitionUri"]).read_text()
        definition = json.loads(tpl.fill_placeholders(text, substitutions))
        definition = rebind_emr_tasks(definition, function_arn(JOB_RUNNER))
        arn = self.client("stepfunctions").create_state_machine(
            name=self.resolver.resolve(props["Name"]),
            definition=json.dumps(definition),
            roleArn=role,
            type=props["Type"],
        )["stateMachineArn"]
        self.resolver.refs["StateMachine"] = arn
        self.substitutions = substitutions

    def bind_functions(self) -> None:
        """The real handlers, with their template environment; and the job runner behind the EMR task."""
        for spec in tpl.functions(self.template):
            env = tpl.function_environment(self.template, spec, self.resolver)
            env["POWERTOOLS_LOG_LEVEL"] = "WARNING"  # keep the local account readable
            env["POWERTOOLS_METRICS_DISABLED"] = "true"  # and no embedded-format metrics (no CloudWatch)
            with function_environment(env):  # powertools reads its log level when the module is imported
                handler = load_handler(REPO / spec.code_uri, spec.handler)
            self.functions.add(spec.name, handler, env)
        runner = JobRunner(
            mirror=self.mirror,
            emr=self.client("emr-serverless"),
            images_prefix=self.resolver.parameter("ImagesPrefix"),
            results_prefix=self.resolver.parameter("ResultsPrefix"),
            log_dir=self.state_dir / "logs",
            cores=self.cores,
            echo=self.echo,
        )
        self.functions.add(JOB_RUNNER, runner)
