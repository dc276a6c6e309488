"""What the guardrail's tests read back from the server, and the hardener's role under a path."""

from __future__ import annotations

import json
from typing import Any

TRUST_ANYONE = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


def arn_of(client: Any, name: str) -> str:
    arn: str = client.describe_table(TableName=name)["Table"]["TableArn"]
    return arn


def policy_of(client: Any, name: str) -> dict[str, Any] | None:
    """The table's resource policy as the server holds it, or None when it has none."""
    try:
        answer = client.get_resource_policy(ResourceArn=arn_of(client, name))
    except client.exceptions.PolicyNotFoundException:
        return None
    document: dict[str, Any] = json.loads(answer["Policy"])
    return document


def assumed_role(iam: Any, sts: Any, name: str, path: str) -> dict[str, str]:
    """Create the role `name` under `path` and assume it: the environment of a caller whose
    GetCallerIdentity ARN (`assumed-role/NAME/...`) lacks the path, as SSO roles' does."""
    role = iam.create_role(
        RoleName=name, Path=path, AssumeRolePolicyDocument=json.dumps(TRUST_ANYONE)
    )
    found = sts.assume_role(RoleArn=role["Role"]["Arn"], RoleSessionName="harden")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": found["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": found["SecretAccessKey"],
        "AWS_SESSION_TOKEN": found["SessionToken"],
    }
