"""Sentinel's DynamoDB tables as a Pulumi program.

Key schemas, GSIs, TTL attribute, billing mode and encryption follow Sentinel's own table
definitions (`infrastructure/schema.go` in mateoblack/sentinel: ApprovalTableSchema,
BreakGlassTableSchema, SessionTableSchema); deletion protection and PITR are on.

    pulumi config set prefix acme-sentinel-      # table names: acme-sentinel-requests, ...
    pulumi config set hardenAtSource true        # also protect any other prefixed table here
    pulumi config set --path 'exclude[0]' 'sentinel-scratch-*'   # ...but not these (globs)
    pulumi config set runtimeGuard true          # re-protect them within seconds of any weakening
    pulumi config set runtimeGuardReservedConcurrency 4   # or none (default 3, at least 3)
    pulumi config set runtimeGuardEventPatternQuota 4096  # the account raised EventBridge's quota
    pulumi config set protect false              # a throwaway stack that `pulumi destroy` removes
    pulumi config set sourceProtection false     # declare them unprotected: what the pack fixes
    pulumi config set --path 'guardrailBreakGlassRoles[0]' arn:aws:iam::111122223333:role/BreakGlass
    pulumi config set --path 'guardrailAllowRoles[0]' arn:aws:iam::111122223333:role/deploy/Pulumi
    pulumi config set guardrailDeployRole arn:aws:iam::111122223333:role/deploy/Pulumi
    pulumi config set guardrailMode lenient      # or strict (default): see docs/guardrail.md
"""

import pulumi
import pulumi_aws as aws

from remediation.transform import guard_table, guardrail_from_config, protect_tables

config = pulumi.Config()
prefix = config.get("prefix") or "sentinel-"
exclude = config.get_object("exclude") or []
# Pulumi's own `protect`: `pulumi destroy` refuses to delete the tables. Off for throwaway stacks.
protect = config.get_bool("protect", True)
# Off: the tables are declared without deletion protection and PITR, as the pack's demo and tests.
source_protection = config.get_bool("sourceProtection", True)
# Before any resource: a guardrail that would lock this very deploy out stops the preview.
guardrail = guardrail_from_config(config)

if config.get_bool("hardenAtSource"):
    # The one line a program needs to protect its own Sentinel tables at the source.
    pulumi.runtime.register_resource_transform(
        protect_tables(prefix, exclude=exclude, protect=protect)
    )

# Every GSI sorts by creation time except the session table's server-instance index.
CREATED_AT = "created_at"

declared: dict[str, aws.dynamodb.Table] = {}

TABLES = {
    "requests": ["requester", "status", "profile"],
    "breakglass": ["invoker", "status", "profile"],
    "sessions": ["user", "status", "profile", "server_instance_id"],
}


def gsi(hash_key: str) -> aws.dynamodb.TableGlobalSecondaryIndexArgs:
    range_key = "status" if hash_key == "server_instance_id" else CREATED_AT
    name = "gsi-server-instance" if hash_key == "server_instance_id" else f"gsi-{hash_key}"
    return aws.dynamodb.TableGlobalSecondaryIndexArgs(
        name=name,
        key_schemas=[
            aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                attribute_name=hash_key, key_type="HASH"
            ),
            aws.dynamodb.TableGlobalSecondaryIndexKeySchemaArgs(
                attribute_name=range_key, key_type="RANGE"
            ),
        ],
        projection_type="ALL",
    )


for logical_name, gsi_keys in TABLES.items():
    attributes = sorted({"id", CREATED_AT, *gsi_keys})
    table = aws.dynamodb.Table(
        logical_name,
        name=f"{prefix}{logical_name}",
        billing_mode="PAY_PER_REQUEST",
        hash_key="id",
        attributes=[aws.dynamodb.TableAttributeArgs(name=a, type="S") for a in attributes],
        global_secondary_indexes=[gsi(key) for key in gsi_keys],
        ttl=aws.dynamodb.TableTtlArgs(attribute_name="ttl", enabled=True),
        server_side_encryption=aws.dynamodb.TableServerSideEncryptionArgs(enabled=True),
        deletion_protection_enabled=True if source_protection else None,
        point_in_time_recovery=(
            aws.dynamodb.TablePointInTimeRecoveryArgs(enabled=True) if source_protection else None
        ),
        opts=pulumi.ResourceOptions(protect=protect),
    )
    pulumi.export(f"{logical_name}_table", table.name)
    declared[logical_name] = table

guard_role: pulumi.Output[str] | None = None
if config.get_bool("runtimeGuard"):
    # Imported only when asked for, so a stack without the guard declares none of it.
    from remediation.guard_component import (
        DEFAULT_PATTERN_QUOTA,
        TableGuard,
        reserved_concurrency_from,
    )

    pattern_quota = config.get_int("runtimeGuardEventPatternQuota")

    guard = TableGuard(
        "sentinel-guard",
        prefix=prefix,
        exclude=exclude,
        # 0, the default, accepts any period (Pulumi makes a typed key without default required).
        min_recovery_days=config.get_int("runtimeGuardMinRecoveryDays") or None,
        alerts=bool(config.get_bool("runtimeGuardAlerts")),
        security_hub=bool(config.get_bool("runtimeGuardSecurityHub")),
        reserved_concurrency=reserved_concurrency_from(
            config.get("runtimeGuardReservedConcurrency")
        ),
        # The account's EventBridge "Event pattern size" quota: 2048 unless raised (up to 4096).
        event_pattern_quota=DEFAULT_PATTERN_QUOTA if pattern_quota is None else pattern_quota,
    )
    pulumi.export("guard_function", guard.function.name)
    pulumi.export("guard_dead_letter_queue", guard.dead_letter_queue.url)
    pulumi.export("guard_dead_letter_alarm", guard.dead_letter_alarm.name)
    guard_role = guard.role.arn

if guardrail is not None:
    # One resource policy per table (the program declares no replicas); the guard's role, when
    # there is one, may still re-protect them.
    for logical_name, table in declared.items():
        guard_table(f"{logical_name}-guardrail", table, guardrail, guard_role=guard_role)
