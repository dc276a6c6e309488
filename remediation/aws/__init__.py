"""The only package that talks to boto3: discover, read state, apply (its answer is the read-back).

One boto3 client per region is shared by the worker threads of `remediation.fleet`'s bounded
pool and, in a fleet, by every account (`SharedClients`: each call is signed with its account's
credentials); every call goes through `Hardener._call`, which paces it to AWS's quotas, stops
starting new calls once the run is cancelled, and turns AWS errors into `core.AwsError` values on
the table they concern. Nothing here decides what a table needs: that is `core.plan`.

One module per AWS concern, each importing only those listed before it:
`session` (settings, sessions, endpoints, client limits, the one client factory), `pacing`,
`errors` (what an answer means, and the door every call goes through), `identity` (STS,
Organizations, enabled regions), `dynamodb` (the Hardener), `securityhub`, `notify` (SNS, SQS).
"""

from __future__ import annotations

from remediation.aws.dynamodb import (
    PAGE_SIZE,
    Hardener,
    ProgressCallback,
    discovery_error,
)
from remediation.aws.errors import (
    ERROR_KEYS,
    NOT_AWS,
    RESPONSE_FIELDS,
    CallFailed,
    Cancelled,
    ResponseField,
)
from remediation.aws.identity import (
    ACTIVE,
    ENABLED_REGION,
    IDENTITY_RATES,
    Account,
    HardenerRole,
    Identity,
    hardener_role,
)
from remediation.aws.notify import (
    SNS_SUBJECT_MAX,
    PublishFailed,
    make_sns_client,
    make_sqs_client,
    publish,
    send_message,
    sns_subject,
)
from remediation.aws.pacing import (
    Pacer,
)
from remediation.aws.securityhub import (
    IMPORT_ACTION,
    IMPORT_BATCH,
    NOT_SUBSCRIBED,
    RESOLVED,
    SECURITY_HUB_RATES,
    UPDATE_ACTION,
    UPDATE_ATTEMPTS,
    UPDATE_BATCH,
    UPDATE_RETRIED,
    ImportAnswer,
    Rejected,
    SecurityHub,
    UpdateAnswer,
    make_security_hub,
    securityhub_client,
)
from remediation.aws.session import (
    BOTOCORE_MAX_BACKOFF,
    DEFAULT_FLEET_WORKERS,
    DEFAULT_RATES,
    DEFAULT_WAIT_TIMEOUT,
    DEFAULT_WORKERS,
    MAX_ATTEMPTS,
    RECOVERY_PERIOD_BOTOCORE,
    AccountCredentials,
    ClientLimits,
    NoSigningCredentials,
    Settings,
    SetupError,
    SharedClients,
    dynamodb_client,
    dynamodb_regions,
    endpoint_url,
    in_partition,
    known_regions,
    make_client,
    make_session,
    require_recovery_period_model,
    session_region,
)

__all__ = [
    "ACTIVE",
    "BOTOCORE_MAX_BACKOFF",
    "DEFAULT_FLEET_WORKERS",
    "DEFAULT_RATES",
    "DEFAULT_WAIT_TIMEOUT",
    "DEFAULT_WORKERS",
    "ENABLED_REGION",
    "ERROR_KEYS",
    "IDENTITY_RATES",
    "IMPORT_ACTION",
    "IMPORT_BATCH",
    "MAX_ATTEMPTS",
    "NOT_AWS",
    "NOT_SUBSCRIBED",
    "PAGE_SIZE",
    "RECOVERY_PERIOD_BOTOCORE",
    "RESOLVED",
    "RESPONSE_FIELDS",
    "SECURITY_HUB_RATES",
    "SNS_SUBJECT_MAX",
    "UPDATE_ACTION",
    "UPDATE_ATTEMPTS",
    "UPDATE_BATCH",
    "UPDATE_RETRIED",
    "Account",
    "AccountCredentials",
    "CallFailed",
    "Cancelled",
    "ClientLimits",
    "Hardener",
    "HardenerRole",
    "Identity",
    "ImportAnswer",
    "NoSigningCredentials",
    "Pacer",
    "ProgressCallback",
    "PublishFailed",
    "Rejected",
    "ResponseField",
    "SecurityHub",
    "Settings",
    "SetupError",
    "SharedClients",
    "UpdateAnswer",
    "discovery_error",
    "dynamodb_client",
    "dynamodb_regions",
    "endpoint_url",
    "hardener_role",
    "in_partition",
    "known_regions",
    "make_client",
    "make_security_hub",
    "make_session",
    "make_sns_client",
    "make_sqs_client",
    "publish",
    "require_recovery_period_model",
    "securityhub_client",
    "send_message",
    "session_region",
    "sns_subject",
]
