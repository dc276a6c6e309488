"""A test double for `pulumi-resource-aws`, the Pulumi AWS provider, for aws:dynamodb/table:Table.

The real provider cannot be built from any registry here (its go.mod replaces
terraform-provider-aws with a patched git submodule, and its schema is generated), so the
real-CLI tests install this stand-in as `pulumi-resource-aws` at the version the program's
pulumi-aws SDK asks for. It speaks Pulumi's provider gRPC protocol with the real provider's
property names (deletionProtectionEnabled, pointInTimeRecovery {enabled, recoveryPeriodInDays},
ttl, globalSecondaryIndexes, ...), and creates, reads, updates and deletes tables with boto3 on
whatever endpoint boto3 is given (moto_server in the tests, through AWS_ENDPOINT_URL). Like AWS,
it does not delete a table whose deletion protection is on: DynamoDB's own refusal is passed
through as the provider's error. Read (and so `pulumi refresh`) returns what DynamoDB answers now,
and Diff and Update plan against those outputs, as the real provider plans against its prior
state: a protection turned off out of band shows as an update in `pulumi preview --refresh` and is
restored by `pulumi up --refresh`. Nothing in remediation/ or policy_pack/ knows of it.

Only what the Sentinel program declares is implemented (tables and, for the guardrail, their
resource policies: `GuardrailProvider`); any other change is refused out loud.
"""

from __future__ import annotations

import importlib.metadata
import signal
from collections.abc import Mapping
from concurrent import futures
from typing import Any

import boto3
import grpc
from botocore.exceptions import ClientError
from google.protobuf import empty_pb2, json_format, struct_pb2
from pulumi.runtime.proto import plugin_pb2, provider_pb2, provider_pb2_grpc

TABLE = "aws:dynamodb/table:Table"
REPLACE_KEYS = ("name", "hashKey", "rangeKey", "localSecondaryIndexes")
"""Inputs whose change the real provider carries out by replacing the table."""
UPDATABLE = ("deletionProtectionEnabled", "pointInTimeRecovery", "ttl", "tags")


def _dict(struct: struct_pb2.Struct) -> dict[str, Any]:
    return json_format.MessageToDict(struct)


def _struct(value: Mapping[str, Any]) -> struct_pb2.Struct:
    struct = struct_pb2.Struct()
    struct.update(dict(value))
    return struct


def _key_schema(hash_key: str, range_key: str | None) -> list[dict[str, str]]:
    schema = [{"AttributeName": hash_key, "KeyType": "HASH"}]
    if range_key:
        schema.append({"AttributeName": range_key, "KeyType": "RANGE"})
    return schema


def _gsi(index: Mapping[str, Any]) -> dict[str, Any]:
    if index.get("keySchemas"):
        keys = [
            {"AttributeName": k["attributeName"], "KeyType": k["keyType"]}
            for k in index["keySchemas"]
        ]
    else:
        keys = _key_schema(index["hashKey"], index.get("rangeKey"))
    projection: dict[str, Any] = {"ProjectionType": index.get("projectionType", "ALL")}
    if index.get("nonKeyAttributes"):
        projection["NonKeyAttributes"] = index["nonKeyAttributes"]
    return {"IndexName": index["name"], "KeySchema": keys, "Projection": projection}


def _pitr_differs(want: Mapping[str, Any], have: Mapping[str, Any]) -> bool:
    if bool(want.get("enabled")) != bool(have.get("enabled")):
        return True
    days = want.get("recoveryPeriodInDays")
    # Like the real provider, a period is compared only where the program declares one.
    return bool(want.get("enabled") and days) and int(days) != int(
        have.get("recoveryPeriodInDays") or 35
    )


def _drifted(deployed: Mapping[str, Any], news: Mapping[str, Any]) -> list[str]:
    """The protections whose deployed value (the outputs, as a refresh last read them) is not the
    declared one: the real provider plans against its prior state, so `pulumi preview --refresh`
    shows the update that restores them."""
    found = []
    want = bool(news.get("deletionProtectionEnabled"))
    if want != bool(deployed.get("deletionProtectionEnabled")):
        found.append("deletionProtectionEnabled")
    pitr = news.get("pointInTimeRecovery") or {}
    if _pitr_differs(pitr, deployed.get("pointInTimeRecovery") or {}):
        found.append("pointInTimeRecovery")
    return found


class Provider(provider_pb2_grpc.ResourceProviderServicer):
    def __init__(self) -> None:
        self.region: str | None = None

    def _client(self) -> Any:
        return boto3.client("dynamodb", region_name=self.region)

    # --- the provider itself -----------------------------------------------------------------

    def GetPluginInfo(self, request: Any, context: Any) -> Any:
        return plugin_pb2.PluginInfo(version=importlib.metadata.version("pulumi_aws"))

    def CheckConfig(self, request: Any, context: Any) -> Any:
        return provider_pb2.CheckResponse(inputs=request.news)

    def DiffConfig(self, request: Any, context: Any) -> Any:
        same = _dict(request.olds).get("region") == _dict(request.news).get("region")
        changes = (
            provider_pb2.DiffResponse.DIFF_NONE if same else provider_pb2.DiffResponse.DIFF_SOME
        )
        return provider_pb2.DiffResponse(changes=changes)

    def Configure(self, request: Any, context: Any) -> Any:
        self.region = request.variables.get("aws:region") or _dict(request.args).get("region")
        return provider_pb2.ConfigureResponse(acceptSecrets=False, supportsPreview=False)

    def Cancel(self, request: Any, context: Any) -> Any:
        return empty_pb2.Empty()

    # --- the table ---------------------------------------------------------------------------

    def _only_tables(self, request: Any, context: Any) -> None:
        kind = request.urn.split("::")[2] if request.urn.count("::") >= 3 else ""
        if kind != TABLE:
            context.abort(grpc.StatusCode.UNIMPLEMENTED, f"the stand-in provider has no {kind}")

    def _fail(self, context: Any, action: str, name: str, error: ClientError) -> None:
        code = error.response.get("Error", {}).get("Code", "")
        message = error.response.get("Error", {}).get("Message", str(error))
        context.abort(
            grpc.StatusCode.UNKNOWN,
            f"{action} DynamoDB Table ({name}): operation error DynamoDB: "
            f"{error.operation_name}, api error {code}: {message}",
        )

    def Check(self, request: Any, context: Any) -> Any:
        self._only_tables(request, context)
        news = _dict(request.news)
        failures = [
            provider_pb2.CheckFailure(property=key, reason=f"Missing required argument {key!r}")
            for key in ("hashKey", "attributes")
            if key not in news
        ]
        return provider_pb2.CheckResponse(inputs=request.news, failures=failures)

    def Diff(self, request: Any, context: Any) -> Any:
        self._only_tables(request, context)
        olds = _dict(request.old_inputs) if request.HasField("old_inputs") else _dict(request.olds)
        news = _dict(request.news)
        changed = sorted(
            {k for k in {*olds, *news} if olds.get(k) != news.get(k)}
            | set(_drifted(_dict(request.olds), news))
        )
        replaces = [k for k in changed if k in REPLACE_KEYS]
        kind = provider_pb2.DiffResponse
        return kind(
            changes=kind.DIFF_SOME if changed else kind.DIFF_NONE,
            diffs=changed,
            replaces=replaces,
            deleteBeforeReplace=bool(replaces),
        )

    def _read(self, name: str, inputs: Mapping[str, Any]) -> dict[str, Any]:
        client = self._client()
        table = client.describe_table(TableName=name)["Table"]
        backups = client.describe_continuous_backups(TableName=name)
        pitr = backups["ContinuousBackupsDescription"].get("PointInTimeRecoveryDescription", {})
        ttl = client.describe_time_to_live(TableName=name).get("TimeToLiveDescription", {})
        outputs = dict(inputs)
        outputs.update(
            {
                "id": name,
                "name": table["TableName"],
                "arn": table["TableArn"],
                "region": self.region,
                "deletionProtectionEnabled": bool(table.get("DeletionProtectionEnabled", False)),
                "pointInTimeRecovery": {
                    "enabled": pitr.get("PointInTimeRecoveryStatus") == "ENABLED",
                    "recoveryPeriodInDays": pitr.get("RecoveryPeriodInDays", 35),
                },
                "ttl": {
                    "attributeName": ttl.get("AttributeName", ""),
                    "enabled": ttl.get("TimeToLiveStatus") == "ENABLED",
                },
                "streamArn": table.get("LatestStreamArn", ""),
                "tagsAll": dict(inputs.get("tags") or {}),
            }
        )
        return outputs

    def _apply(self, name: str, olds: Mapping[str, Any], news: Mapping[str, Any]) -> None:
        """Every updatable setting that differs from `olds` (the deployed state: the outputs as
        last read, so that drift is repaired), each with its own DynamoDB call."""
        client = self._client()
        drifted = _drifted(olds, news)
        if "deletionProtectionEnabled" in drifted:
            client.update_table(
                TableName=name,
                DeletionProtectionEnabled=bool(news.get("deletionProtectionEnabled")),
            )
        pitr = news.get("pointInTimeRecovery") or {}
        if "pointInTimeRecovery" in drifted:
            spec: dict[str, Any] = {"PointInTimeRecoveryEnabled": bool(pitr.get("enabled"))}
            if pitr.get("enabled") and pitr.get("recoveryPeriodInDays"):
                spec["RecoveryPeriodInDays"] = int(pitr["recoveryPeriodInDays"])
            client.update_continuous_backups(TableName=name, PointInTimeRecoverySpecification=spec)
        ttl = news.get("ttl") or {}
        had = olds.get("ttl") or {}
        same_ttl = (ttl.get("attributeName"), bool(ttl.get("enabled"))) == (
            had.get("attributeName"),
            bool(had.get("enabled")),
        )
        if not same_ttl and ttl.get("attributeName"):
            client.update_time_to_live(
                TableName=name,
                TimeToLiveSpecification={
                    "AttributeName": ttl["attributeName"],
                    "Enabled": bool(ttl.get("enabled")),
                },
            )

    def Create(self, request: Any, context: Any) -> Any:
        self._only_tables(request, context)
        news = _dict(request.properties)
        name = news["name"]
        create: dict[str, Any] = {
            "TableName": name,
            "AttributeDefinitions": [
                {"AttributeName": a["name"], "AttributeType": a["type"]} for a in news["attributes"]
            ],
            "KeySchema": _key_schema(news["hashKey"], news.get("rangeKey")),
            "BillingMode": news.get("billingMode", "PROVISIONED"),
            "DeletionProtectionEnabled": bool(news.get("deletionProtectionEnabled")),
        }
        if create["BillingMode"] == "PROVISIONED":
            create["ProvisionedThroughput"] = {
                "ReadCapacityUnits": int(news.get("readCapacity", 1)),
                "WriteCapacityUnits": int(news.get("writeCapacity", 1)),
            }
        if news.get("globalSecondaryIndexes"):
            create["GlobalSecondaryIndexes"] = [_gsi(i) for i in news["globalSecondaryIndexes"]]
        if (news.get("serverSideEncryption") or {}).get("enabled"):
            create["SSESpecification"] = {"Enabled": True}
        if news.get("tags"):
            create["Tags"] = [{"Key": k, "Value": v} for k, v in news["tags"].items()]
        try:
            self._client().create_table(**create)
            # Creation sets deletion protection; the rest has calls of its own, as in the real one.
            self._apply(
                name, {"deletionProtectionEnabled": create["DeletionProtectionEnabled"]}, news
            )
            outputs = self._read(name, news)
        except ClientError as error:
            self._fail(context, "creating", name, error)
        return provider_pb2.CreateResponse(id=name, properties=_struct(outputs))

    def Read(self, request: Any, context: Any) -> Any:
        self._only_tables(request, context)
        inputs = _dict(request.inputs)
        try:
            outputs = self._read(request.id, inputs or _dict(request.properties))
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                return provider_pb2.ReadResponse()  # gone: the engine drops it from state
            self._fail(context, "reading", request.id, error)
        return provider_pb2.ReadResponse(
            id=request.id, properties=_struct(outputs), inputs=request.inputs
        )

    def Update(self, request: Any, context: Any) -> Any:
        self._only_tables(request, context)
        olds = _dict(request.old_inputs) if request.HasField("old_inputs") else _dict(request.olds)
        news = _dict(request.news)
        other = sorted(
            k for k in {*olds, *news} if olds.get(k) != news.get(k) and k not in UPDATABLE
        )
        if other:
            context.abort(
                grpc.StatusCode.UNIMPLEMENTED,
                f"the stand-in provider cannot update {', '.join(other)}",
            )
        try:
            self._apply(request.id, _dict(request.olds), news)
            outputs = self._read(request.id, news)
        except ClientError as error:
            self._fail(context, "updating", request.id, error)
        return provider_pb2.UpdateResponse(properties=_struct(outputs))

    def Delete(self, request: Any, context: Any) -> Any:
        self._only_tables(request, context)
        try:
            self._client().delete_table(TableName=request.id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ResourceNotFoundException":
                self._fail(context, "deleting", request.id, error)
        return empty_pb2.Empty()


RESOURCE_POLICY = "aws:dynamodb/resourcePolicy:ResourcePolicy"


def _kind(request: Any) -> str:
    return request.urn.split("::")[2] if request.urn.count("::") >= 3 else ""


class GuardrailProvider(Provider):
    """Tables as above, and aws:dynamodb/resourcePolicy:ResourcePolicy (resourceArn, policy,
    confirmRemoveSelfResourceAccess; id the resource's ARN, as the real provider's), with
    PutResourcePolicy, GetResourcePolicy and DeleteResourcePolicy."""

    def _put(self, news: Mapping[str, Any]) -> dict[str, Any]:
        call: dict[str, Any] = {"ResourceArn": news["resourceArn"], "Policy": news["policy"]}
        if news.get("confirmRemoveSelfResourceAccess"):
            call["ConfirmRemoveSelfResourceAccess"] = True
        answer = self._client().put_resource_policy(**call)
        return {**news, "revisionId": answer.get("RevisionId", "")}

    def Check(self, request: Any, context: Any) -> Any:
        if _kind(request) != RESOURCE_POLICY:
            return super().Check(request, context)
        news = _dict(request.news)
        failures = [
            provider_pb2.CheckFailure(property=key, reason=f"Missing required argument {key!r}")
            for key in ("resourceArn", "policy")
            if key not in news
        ]
        return provider_pb2.CheckResponse(inputs=request.news, failures=failures)

    def Diff(self, request: Any, context: Any) -> Any:
        if _kind(request) != RESOURCE_POLICY:
            return super().Diff(request, context)
        olds = _dict(request.old_inputs) if request.HasField("old_inputs") else _dict(request.olds)
        news = _dict(request.news)
        keys = ("resourceArn", "policy", "confirmRemoveSelfResourceAccess")
        changed = [k for k in keys if olds.get(k) != news.get(k)]
        kind = provider_pb2.DiffResponse
        return kind(
            changes=kind.DIFF_SOME if changed else kind.DIFF_NONE,
            diffs=changed,
            replaces=[k for k in changed if k == "resourceArn"],
        )

    def Create(self, request: Any, context: Any) -> Any:
        if _kind(request) != RESOURCE_POLICY:
            return super().Create(request, context)
        news = _dict(request.properties)
        try:
            outputs = self._put(news)
        except ClientError as error:
            self._fail(context, "creating", news["resourceArn"], error)
        return provider_pb2.CreateResponse(id=news["resourceArn"], properties=_struct(outputs))

    def Read(self, request: Any, context: Any) -> Any:
        if _kind(request) != RESOURCE_POLICY:
            return super().Read(request, context)
        inputs = _dict(request.inputs) or _dict(request.properties)
        try:
            answer = self._client().get_resource_policy(ResourceArn=request.id)
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") in (
                "PolicyNotFoundException",
                "ResourceNotFoundException",
            ):
                return provider_pb2.ReadResponse()  # gone: the engine drops it from state
            self._fail(context, "reading", request.id, error)
        outputs = {
            **inputs,
            "resourceArn": request.id,
            "policy": answer["Policy"],
            "revisionId": answer.get("RevisionId", ""),
        }
        return provider_pb2.ReadResponse(
            id=request.id, properties=_struct(outputs), inputs=request.inputs
        )

    def Update(self, request: Any, context: Any) -> Any:
        if _kind(request) != RESOURCE_POLICY:
            return super().Update(request, context)
        news = _dict(request.news)
        try:
            outputs = self._put(news)
        except ClientError as error:
            self._fail(context, "updating", request.id, error)
        return provider_pb2.UpdateResponse(properties=_struct(outputs))

    def Delete(self, request: Any, context: Any) -> Any:
        if _kind(request) != RESOURCE_POLICY:
            return super().Delete(request, context)
        try:
            self._client().delete_resource_policy(ResourceArn=request.id)
        except ClientError as error:
            code = error.response.get("Error", {}).get("Code")
            if code not in ("PolicyNotFoundException", "ResourceNotFoundException"):
                self._fail(context, "deleting", request.id, error)
        return empty_pb2.Empty()


def main() -> None:
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    provider_pb2_grpc.add_ResourceProviderServicer_to_server(GuardrailProvider(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(port, flush=True)
    # The CLI interrupts its plugins when it is done with them: stop quietly, as the real ones do.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: server.stop(0))
    server.wait_for_termination()


if __name__ == "__main__":
    main()
