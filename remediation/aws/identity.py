"""The caller's accounts: STS (who am I, assume a role), Organizations (which accounts) and
EC2's DescribeRegions (which regions an account has enabled), through the same door; and the
caller's own role ARN with its path (`hardener_role`), which the guardrail must allow."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.credentials import RefreshableCredentials

from remediation.aws.errors import _Door
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
    # IAM: a handful of calls a second per account; one GetRole per run.
    "GetRole": 5.0,
}


ACTIVE = "ACTIVE"

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

    def caller_arn(self) -> str:
        """The caller's ARN as STS answers it: for a role, its assumed-role ARN, which carries
        no path. Raises CallFailed."""
        arn: str = self._sts.call("GetCallerIdentity")["Arn"]
        return arn

    def role_arn(self, name: str) -> str:
        """The ARN of the caller account's role `name`, path included (iam:GetRole). Raises
        CallFailed."""
        client = _client(self._session, "iam", self._region, self._settings)
        door = _Door(client, "iam", IDENTITY_RATES, self._cancel)
        arn: str = door.call("GetRole", RoleName=name)["Role"]["Arn"]
        return arn

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


# -- the hardener's own role, as aws:PrincipalArn carries it --------------------------------------

_ASSUMED_ROLE = re.compile(
    r"arn:(?P<partition>[\w-]+):sts::(?P<account>\d{12}):assumed-role/(?P<name>[\w+=,.@-]+)/.+"
)


@dataclass(frozen=True)
class HardenerRole:
    """The caller's role ARN with its path, or None when the caller is no role; `source` says in
    one line how it was learned (or why there is none), for the person to check."""

    arn: str | None
    source: str


def hardener_role(identity: Identity, named: Sequence[str] = ()) -> HardenerRole:
    """The caller's own role ARN, path included, as `aws:PrincipalArn` carries it.

    sts:GetCallerIdentity gives an assumed-role ARN without the path (SSO roles live under
    `role/aws-reserved/sso.amazonaws.com/...`): a role ARN among `named` (the --allow-role ARNs,
    no wildcards) with the same account and name is taken as it is, else iam:GetRole finds it.
    A caller that is no role (an IAM user, the root user) gets None, and `source` says so.
    Raises CallFailed (GetCallerIdentity, or GetRole denied).
    """
    caller = identity.caller_arn()
    found = _ASSUMED_ROLE.fullmatch(caller)
    if found is None:
        return HardenerRole(
            None,
            f"the caller {caller} is not an assumed role: not added (the guardrail allows "
            "roles; name the roles that must change tables with --allow-role)",
        )
    account, name = found["account"], found["name"]
    for arn in named:
        parts = arn.split(":")
        if (
            len(parts) == 6
            and parts[4] == account
            and parts[5].startswith("role/")
            and parts[5].rsplit("/", 1)[-1] == name
            and not any(c in arn for c in "*?")
        ):
            return HardenerRole(arn, f"{arn} (from --allow-role, matching the caller {caller})")
    arn = identity.role_arn(name)
    return HardenerRole(arn, f"{arn} (from iam:GetRole for the caller {caller})")
