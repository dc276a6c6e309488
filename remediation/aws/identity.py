"""The caller's accounts: STS (who am I, assume a role), Organizations (which accounts) and
EC2's DescribeRegions (which regions an account has enabled), through the same door."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.credentials import RefreshableCredentials

from remediation.aws.errors import CallFailed, _Door
from remediation.aws.session import AccountCredentials, Settings, SetupError, SharedClients, _client

if TYPE_CHECKING:
    from boto3.session import Session
else:
    Session = Any

IDENTITY_RATES: Mapping[str, float] = {
    # STS: 600 requests a second per account and region; Organizations: a few a second for the
    # whole organization; EC2's DescribeRegions: tens a second. Paced well under each, evenly.
    "AssumeRole": 50.0,
    "ListAccounts": 4.0,
    "DescribeRegions": 20.0,
}


ACTIVE = "ACTIVE"

GET_ROLE_ACTION = "iam:GetRole"
"""The one IAM action `harden --guardrail` needs beyond DynamoDB's: the hardener's own role's path
(sts:GetCallerIdentity needs no permission). Not needed when --allow-role names that role."""

ENABLED_REGION = frozenset({"opt-in-not-required", "opted-in"})
"""EC2's OptInStatus of a region the account can use; `not-opted-in` is not enabled."""


@dataclass(frozen=True)
class Account:
    """An account of the organization and its lifecycle state as Organizations answers it:
    `State` (ACTIVE, SUSPENDED, PENDING_CLOSURE, CLOSED, PENDING_ACTIVATION), or the retired
    `Status` when it is the only one present; None when neither is."""

    id: str
    state: str | None


class Identity:
    """The caller's STS, Organizations and region-listing calls: who am I, which accounts,
    assume a role, which regions an account has enabled."""

    def __init__(
        self,
        session: Session,
        region: str | None,
        settings: Settings,
        cancel: threading.Event,
        clients: SharedClients | None = None,
    ) -> None:
        self._session = session
        # STS's regional endpoint (see make_session) in the run's home region.
        self._region = region or "us-east-1"
        self._settings = settings
        self._sts = _Door(
            _client(session, "sts", self._region, settings), "sts", IDENTITY_RATES, cancel
        )
        self._cancel = cancel
        self._clients = clients if clients is not None else SharedClients(session, settings)
        self._organizations: _Door | None = None

    def caller_account(self) -> str:
        """The caller's account id (sts:GetCallerIdentity, which no policy can deny).
        Raises CallFailed."""
        account: str = self._sts.call("GetCallerIdentity")["Account"]
        return account

    def caller_credentials(self) -> AccountCredentials:
        """The caller's own credentials (botocore refreshes them when their source can)."""
        credentials: AccountCredentials | None = self._session.get_credentials()
        if credentials is None:
            raise SetupError("no AWS credentials found: set AWS_PROFILE or --aws-profile")
        return credentials

    def assume(
        self, role_arn: str, session_name: str, external_id: str | None
    ) -> AccountCredentials:
        """Assume `role_arn` now; the credentials assume it again before they expire (botocore's
        refreshable credentials, as Cloud Custodian's assumed sessions), so a run or a prompt
        that outlasts them never meets ExpiredToken. Raises CallFailed (denied, no such role,
        the caller's own credentials expired) and, on a later refresh, from the call that
        needed it."""
        params: dict[str, Any] = {"RoleArn": role_arn, "RoleSessionName": session_name}
        if external_id is not None:
            params["ExternalId"] = external_id

        def fetch() -> dict[str, Any]:
            found = self._sts.call("AssumeRole", **params)["Credentials"]
            expiration = found["Expiration"]
            return {
                "access_key": found["AccessKeyId"],
                "secret_key": found["SecretAccessKey"],
                "token": found["SessionToken"],
                "expiry_time": expiration.isoformat()
                if hasattr(expiration, "isoformat")
                else str(expiration),
            }

        credentials: AccountCredentials = RefreshableCredentials.create_from_metadata(
            metadata=fetch(), refresh_using=fetch, method="sts-assume-role"
        )
        return credentials

    def accounts(self) -> list[Account]:
        """Every account of the organization with its state, every page. Raises CallFailed."""
        if self._organizations is None:
            client = _client(self._session, "organizations", self._region, self._settings)
            self._organizations = _Door(client, "organizations", IDENTITY_RATES, self._cancel)
        accounts: list[Account] = []
        params: dict[str, Any] = {}
        while True:
            page = self._organizations.call("ListAccounts", **params)
            for found in page.get("Accounts", []):
                # Status is retired (2026-09-09): State first, Status only when it is all there is.
                state = found.get("State") or found.get("Status")
                accounts.append(Account(found["Id"], state if isinstance(state, str) else None))
            if not page.get("NextToken"):
                return accounts
            params["NextToken"] = page["NextToken"]

    def enabled_regions(self, credentials: AccountCredentials) -> dict[str, bool]:
        """Every region of the account (ec2:DescribeRegions, with its own credentials), and
        whether it is enabled for it. A region whose OptInStatus is missing counts as enabled,
        so that a refusal there is a failure, never a skip. Raises CallFailed."""
        client = self._clients.get("ec2", self._region)
        door = _Door(client, "ec2", IDENTITY_RATES, self._cancel, credentials)
        answer = door.call("DescribeRegions", AllRegions=True)
        regions: dict[str, bool] = {}
        for region in answer.get("Regions", []):
            name = region.get("RegionName")
            if isinstance(name, str):
                status = region.get("OptInStatus")
                regions[name] = status is None or status in ENABLED_REGION
        return regions


@dataclass(frozen=True)
class HardenerRole:
    """Who the hardener is, for the guardrail's `aws:PrincipalArn`: the role ARN with its path,
    and which source gave it."""

    caller: str
    """The caller's ARN as sts:GetCallerIdentity answers it (an assumed-role ARN has no path)."""
    arn: str | None
    """The role's ARN with its path; None when the caller is not a role or its ARN is unknown."""
    source: str
    """"--allow-role", "iam:GetRole", or why no role ARN was found."""


def hardener_role_arn(
    session: Session, region: str | None, settings: Settings, named: tuple[str, ...] = ()
) -> HardenerRole:
    """The caller's role ARN with its path: from a role ARN the user named (`--allow-role`) with
    the same account and name, else from iam:GetRole. Raises CallFailed when STS cannot answer.

    `aws:PrincipalArn` carries the role's path (`role/aws-reserved/sso.amazonaws.com/...`), and
    sts:GetCallerIdentity answers `assumed-role/NAME/SESSION` without it.
    """
    cancel = threading.Event()
    home = region or "us-east-1"
    sts = _Door(_client(session, "sts", home, settings), "sts", IDENTITY_RATES, cancel)
    caller: str = sts.call("GetCallerIdentity")["Arn"]
    parts = caller.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    if not resource.startswith("assumed-role/"):
        return HardenerRole(caller, None, "the caller is not a role (an IAM user or the root)")
    partition, account, name = parts[1], parts[4], resource.split("/")[1]
    for arn in named:
        if "*" in arn or "?" in arn:
            continue
        if arn.startswith(f"arn:{partition}:iam::{account}:role/") and arn.endswith(f"/{name}"):
            return HardenerRole(caller, arn, "--allow-role")
    iam = _Door(_client(session, "iam", home, settings), "iam", IDENTITY_RATES, cancel)
    try:
        role = iam.call("GetRole", RoleName=name)["Role"]
    except CallFailed as exc:
        return HardenerRole(caller, None, f"unknown: iam:GetRole answered {exc.error.code}")
    return HardenerRole(caller, str(role["Arn"]), "iam:GetRole")
