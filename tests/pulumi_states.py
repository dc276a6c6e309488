"""Pulumi state as `pulumi stack export` and a file:// backend write it, for the Sentinel program.

The shapes follow pulumi/pulumi `sdk/go/common/apitype` (UntypedDeployment, VersionedCheckpoint,
DeploymentV3, ResourceV3, SecretV1) and the outputs pulumi-aws 7 records for a DynamoDB table.
"""

from __future__ import annotations

import copy
import gzip
import json
from pathlib import Path
from typing import Any

PROJECT = "sentinel-dynamodb"
STACK = "dev"
ACCOUNT = "123456789012"
REGION = "us-east-1"
SIG = "4dabf18193072939515e22adb298388d"
SECRET = "1b47061264138c4ac30d75fd1eb44270"
CIPHERTEXT = "v1:4ZmLPyZ8c3S8rX9+:bSPmnJ3R2Ev2xQ1s9e7v0b0tTkDzpS6Qyq2lhoS1O4fsjQ=="
"""A passphrase-provider ciphertext: what an export without --show-secrets holds."""
SECRET_PLAINTEXT = "hunter2-do-not-print"


def urn(kind: str, name: str, stack: str = STACK) -> str:
    return f"urn:pulumi:{stack}::{PROJECT}::{kind}::{name}"


def stack_resource(stack: str = STACK) -> dict[str, Any]:
    return {
        "urn": urn("pulumi:pulumi:Stack", f"{PROJECT}-{stack}", stack),
        "custom": False,
        "type": "pulumi:pulumi:Stack",
        "outputs": {
            "requests_table": "sentinel-requests",
            # A secret stack output, encrypted as the passphrase provider writes it.
            "webhook_token": {SIG: SECRET, "ciphertext": CIPHERTEXT},
        },
        "created": "2026-11-02T09:14:03.118Z",
        "modified": "2026-11-20T16:40:51.302Z",
    }


def provider(
    name: str, region: str | None, stack: str = STACK, package: str = "aws"
) -> dict[str, Any]:
    """A provider; `default_7_51_1` is the aws one Pulumi makes from `aws:region` config."""
    version = "7.51.1" if package == "aws" else "1.40.0"
    inputs: dict[str, Any] = {"skipCredentialsValidation": "false", "version": version}
    if region is not None:
        inputs["region"] = region
    return {
        "urn": urn(f"pulumi:providers:{package}", name, stack),
        "custom": True,
        "id": "0b5c2e3a-9f0e-4c55-8f4e-1d2b7c9a4e11",
        "type": f"pulumi:providers:{package}",
        "inputs": inputs,
        "outputs": dict(inputs),
    }


def provider_ref(resource: dict[str, Any]) -> str:
    return f"{resource['urn']}::{resource['id']}"


def table(
    logical: str,
    name: str,
    *,
    region: str | None = REGION,
    account: str = ACCOUNT,
    with_arn: bool = True,
    with_region: bool = True,
    replicas: tuple[str, ...] = (),
    provider_of: dict[str, Any] | None = None,
    stack: str = STACK,
) -> dict[str, Any]:
    """An aws:dynamodb/table:Table as pulumi-aws 7 records it after `pulumi up`."""
    pitr = {"enabled": True, "recoveryPeriodInDays": 35}
    inputs = {
        "attributes": [{"name": "id", "type": "S"}],
        "billingMode": "PAY_PER_REQUEST",
        "deletionProtectionEnabled": True,
        "hashKey": "id",
        "name": name,
        "pointInTimeRecovery": {"enabled": True},
        "serverSideEncryption": {"enabled": True},
        "ttl": {"attributeName": "ttl", "enabled": True},
    }
    outputs: dict[str, Any] = {
        **inputs,
        "id": name,
        "pointInTimeRecovery": pitr,
        "readCapacity": 0,
        "writeCapacity": 0,
        "streamArn": "",
        "tags": {},
        "tagsAll": {},
        "replicas": [
            {
                "arn": f"arn:aws:dynamodb:{r}:{account}:table/{name}",
                "regionName": r,
                "deletionProtectionEnabled": True,
                "pointInTimeRecovery": True,
                "propagateTags": False,
            }
            for r in replicas
        ],
    }
    if with_arn:
        outputs["arn"] = f"arn:aws:dynamodb:{region}:{account}:table/{name}"
    if with_region and region is not None:
        outputs["region"] = region
    resource: dict[str, Any] = {
        "urn": urn("aws:dynamodb/table:Table", logical, stack),
        "custom": True,
        "id": name,
        "type": "aws:dynamodb/table:Table",
        "inputs": inputs,
        "outputs": outputs,
        "parent": urn("pulumi:pulumi:Stack", f"{PROJECT}-{stack}", stack),
        "provider": provider_ref(provider_of or provider("default_7_51_1", REGION, stack)),
        "propertyDependencies": {"name": [], "hashKey": []},
        "created": "2026-11-02T09:14:21.553Z",
        "modified": "2026-11-20T16:40:49.870Z",
    }
    return resource


def native_global_table(
    logical: str,
    name: str,
    regions: tuple[str, ...] = (REGION, "eu-west-1"),
    *,
    account: str = ACCOUNT,
    stack: str = STACK,
) -> dict[str, Any]:
    """An aws-native:dynamodb:GlobalTable (AWS::DynamoDB::GlobalTable) after `pulumi up`: its id is
    the table name, and every replica, the stack region's included, is a `replicas[]` entry."""
    replicas = [
        {
            "region": r,
            "deletionProtectionEnabled": True,
            "pointInTimeRecoverySpecification": {"pointInTimeRecoveryEnabled": True},
        }
        for r in regions
    ]
    inputs = {
        "tableName": name,
        "attributeDefinitions": [{"attributeName": "id", "attributeType": "S"}],
        "keySchema": [{"attributeName": "id", "keyType": "HASH"}],
        "billingMode": "PAY_PER_REQUEST",
        "replicas": replicas,
    }
    native_default = provider("default_1_40_0", REGION, stack, package="aws-native")
    return {
        "urn": urn("aws-native:dynamodb:GlobalTable", logical, stack),
        "custom": True,
        "id": name,
        "type": "aws-native:dynamodb:GlobalTable",
        "inputs": inputs,
        "outputs": {
            **inputs,
            "arn": f"arn:aws:dynamodb:{REGION}:{account}:table/{name}",
            "streamArn": None,
            "tableId": "8f2c1e34-6b7a-4c1d-9e0f-2a3b4c5d6e7f",
        },
        "provider": provider_ref(native_default),
    }


def sentinel_export(stack: str = STACK, version: int = 3) -> dict[str, Any]:
    """What `pulumi stack export` prints for the Sentinel program after `pulumi up`: the stack,
    its default provider, three tables, a replica resource, an aws-native table, a bucket, a
    table read with `Table.get` (external), and secrets."""
    default = provider("default_7_51_1", REGION, stack)
    west = provider("eu-west-1", "eu-west-1", stack)
    native_default = provider("default_1_40_0", REGION, stack, package="aws-native")
    native = {
        "urn": urn("aws-native:dynamodb:Table", "audit", stack),
        "custom": True,
        "id": "sentinel-audit",
        "type": "aws-native:dynamodb:Table",
        "inputs": {"tableName": "sentinel-audit", "deletionProtectionEnabled": True},
        "outputs": {
            "arn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/sentinel-audit",
            "tableName": "sentinel-audit",
            "deletionProtectionEnabled": True,
        },
        "provider": provider_ref(native_default),
    }
    replica = {
        "urn": urn("aws:dynamodb/tableReplica:TableReplica", "sessions-west", stack),
        "custom": True,
        "id": f"sentinel-sessions:{REGION}",
        "type": "aws:dynamodb/tableReplica:TableReplica",
        "inputs": {
            "globalTableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/sentinel-sessions",
            "pointInTimeRecovery": True,
        },
        "outputs": {
            "arn": f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/sentinel-sessions",
            "globalTableArn": f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/sentinel-sessions",
            "id": f"sentinel-sessions:{REGION}",
            "pointInTimeRecovery": True,
            "deletionProtectionEnabled": True,
            "region": "eu-west-1",
            "tagsAll": {},
        },
        "provider": provider_ref(west),
    }
    bucket = {
        "urn": urn("aws:s3/bucket:Bucket", "exports", stack),
        "custom": True,
        "id": "sentinel-exports-5d1e2f3",
        "type": "aws:s3/bucket:Bucket",
        "inputs": {"bucket": "sentinel-exports-5d1e2f3"},
        "outputs": {
            "arn": "arn:aws:s3:::sentinel-exports-5d1e2f3",
            "bucket": "sentinel-exports-5d1e2f3",
        },
        "provider": provider_ref(default),
    }
    external = table("legacy", "sentinel-legacy", stack=stack)
    external["external"] = True
    external["id"] = "sentinel-legacy"
    requests = table("requests", "sentinel-requests", stack=stack)
    # A secret input, encrypted: tags set from a secret config value.
    requests["inputs"]["tags"] = {SIG: SECRET, "ciphertext": CIPHERTEXT}
    return {
        "version": version,
        "deployment": {
            "manifest": {
                "time": "2026-11-20T16:40:51.302Z",
                "magic": "3f0c4c1f1d5a0b8d6a1f1f7e0c2b9f6c8a5e4d3c2b1a0f9e8d7c6b5a49382716",
                "version": "v3.205.0",
            },
            "secrets_providers": {
                "type": "passphrase",
                "state": {"salt": "v1:Hn1SR2qvYlE=:v1:Xq3zG0wq2Zk9v2b1:e1Jc6W4m3q7dA0oQ8mNn5Q=="},
            },
            "resources": [
                stack_resource(stack),
                default,
                west,
                native_default,
                requests,
                table("breakglass", "sentinel-breakglass", stack=stack),
                table("sessions", "sentinel-sessions", stack=stack),
                replica,
                native,
                bucket,
                external,
            ],
        },
    }


def checkpoint(export: dict[str, Any], stack: str = STACK) -> dict[str, Any]:
    """The same deployment as a file:// backend stores it (apitype.VersionedCheckpoint)."""
    document: dict[str, Any] = {
        "version": export["version"],
        "checkpoint": {
            "stack": f"organization/{PROJECT}/{stack}",
            "latest": copy.deepcopy(export["deployment"]),
        },
    }
    if "features" in export:
        document["features"] = export["features"]
    return document


def write_json(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(document, indent=4))
    return path


def write_gzip(path: Path, document: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(gzip.compress(json.dumps(document).encode()))
    return path
