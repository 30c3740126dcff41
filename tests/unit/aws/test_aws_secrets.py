"""No secret or account id in the functions' environments or in any file of the repository."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from aws_support import REPO, resources_of

MOTO_ACCOUNT = "123456789012"


SECRET_NAME = re.compile(r"SECRET|PASSWORD|PASSWD|TOKEN|API_?KEY|ACCESS_KEY|PRIVATE_KEY|CREDENTIAL", re.I)


def test_function_environments_hold_no_literal_secrets(transformed):
    for name, function in resources_of(transformed, "AWS::Lambda::Function").items():
        variables = function.get("Environment", {}).get("Variables", {})
        for variable, value in variables.items():
            literal = isinstance(value, str | int | float)
            assert not (literal and SECRET_NAME.search(variable)), (name, variable)
            assert not (literal and leaks(str(value))), (name, variable)


# Repository scan. The patterns are written so that they do not match their own source text.
LEAKS = {
    "AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b"),
    "AWS secret access key": re.compile(
        r"aws_secret_access_key[\"']?\s*[:=]\s*[\"']?[A-Za-z0-9/+]{40}(?![A-Za-z0-9/+])", re.I
    ),
    "private key": re.compile(r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----"),
}
ACCOUNT_IDS = [
    re.compile(r"arn:aws[a-z-]*:[a-z0-9-]+:[a-z0-9-]*:(\d{12}):"),
    re.compile(r"\b(\d{12})\.dkr\.ecr\."),
    re.compile(r"account[_-]?id[\"']?\s*[:=]\s*[\"']?(\d{12})\b", re.I),
    re.compile(r"aws:SourceAccount[\"']?\s*[:=]\s*[\"']?(\d{12})\b"),
    # This stack's bucket naming: <stack>-<account>-<region>.
    re.compile(r"-(\d{12})-[a-z]{2}(?:-[a-z]+)+-\d\b"),
]


def leaks(line: str) -> list[str]:
    found = [kind for kind, pattern in LEAKS.items() if pattern.search(line)]
    accounts = {m.group(1) for p in ACCOUNT_IDS for m in p.finditer(line)} - {MOTO_ACCOUNT}
    return found + [f"account id {a}" for a in sorted(accounts)]


def repository_files() -> list[str]:
    if shutil.which("git") is None or not (REPO / ".git").exists():
        pytest.skip("not a git checkout")
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=REPO,
        capture_output=True,
        check=True,
    ).stdout.decode()
    return [name for name in listed.split("\0") if name and (REPO / name).is_file()]


def test_leak_patterns_catch_each_kind_of_leak():
    # Built at run time so that this file stays clean for the repository scan.
    key_id = "AKIA" + "Q" * 16
    secret = "wJalr" + "X" * 35
    account = "2" * 12
    samples = {
        f"aws_access_key_id = {key_id}": ["AWS access key id"],
        f'"aws_secret_access_key": "{secret}"': ["AWS secret access key"],
        "-" * 5 + "BEGIN RSA PRIVATE KEY" + "-" * 5: ["private key"],
        f"arn:aws:iam::{account}:role/x": [f"account id {account}"],
        f"{account}.dkr.ecr.eu-west-1.amazonaws.com/orchard:1": [f"account id {account}"],
        f"orchard-{account}-us-east-1": [f"account id {account}"],
        f"ACCOUNT_ID = '{account}'": [f"account id {account}"],
        f"arn:aws:iam::{MOTO_ACCOUNT}:role/x": [],
        "SentTimestamp: 1710408413589": [],
    }
    assert {line: leaks(line) for line in samples} == samples


def test_repository_holds_no_secrets_or_account_ids():
    offenders = []
    for name in repository_files():
        data = (REPO / name).read_bytes()
        if b"\0" in data[:8192]:
            continue  # binary
        for number, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
            offenders += [f"{name}:{number}: {kind}" for kind in leaks(line)]
    assert not offenders, "\n".join(offenders)
