"""The values of a fleet run, checked and never called: the scope the user asked for (accounts
and regions), each account-region target and how it went, and each table row read in one.

`fleet` builds and fills them; the CLI only renders them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from remediation import aws, core
from remediation.core import AwsError, TableRef, TableState

REFUSED = frozenset({"UnrecognizedClientException", "InvalidClientTokenId"})
"""What AWS answers to credentials it does not accept: invalid ones, or valid ones in a region
not enabled for the account (or, from STS's global endpoint, in an opt-in region). Never taken
as "not enabled": which regions are enabled comes from the account itself."""

ACCESS_DENIED = frozenset({"AccessDeniedException", "AccessDenied", "UnauthorizedOperation"})
SCP_DENY = "explicit deny in a service control policy"
"""In AWS's access-denied message when a service control policy denies the call."""


def scp_denied(error: AwsError) -> bool:
    """AWS's answer to a call a service control policy explicitly denies (a region the
    organization has closed, say): access denied, naming the SCP."""
    return error.code in ACCESS_DENIED and SCP_DENY in error.message


_ACCOUNT = re.compile(r"\d{12}")
ROLE_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/[\w+=,.@-]+(?:/[\w+=,.@-]+)*"
)
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")

TargetKey = tuple[str | None, str]
"""(account, region). The account is None for the caller's own when no run needs its id."""

Status = Literal["ok", "failed", "skipped", "denied", "interrupted"]
ALL_ACCOUNT_REGIONS = core.ACCOUNT_WIDE
"""The region of an account-wide entry when the account's regions are not known (a role that
cannot be assumed under --all-regions, an account skipped for its state)."""


UNKNOWN_TO_BOTOCORE = (
    "region enabled for this account, but the installed botocore lists no DynamoDB there: "
    "not checked (upgrade boto3 to check it)"
)
"""Why an --all-regions run lists a region the account has enabled and botocore does not know."""

CALLER_LEFT_OUT = (
    "the caller's own account (--include-caller-account hardens it with the caller's credentials)"
)
"""Why an organization run lists the caller's account as skipped."""


INTERRUPTED = (
    "read only in part: Ctrl-C came first; what was read is reported, the rest is unchecked"
)
"""Why a target a Ctrl-C stopped during the reads is not `ok`."""


FOLLOWED_REPLICA = frozenset({"ACTIVE", "UPDATING", "CREATING"})
"""Replica statuses that are a table to protect. CREATING is read like any table still being
created: a write waits for it (--wait-timeout); every other status is reported, not written."""


class InvalidScope(ValueError):
    """Flags that do not make a fleet: a malformed role ARN, --role-name alone, and the like."""


@dataclass(frozen=True)
class Scope:
    """Which accounts and regions a run covers, as the user asked; checked, never called."""

    regions: tuple[str, ...] = ()
    all_regions: bool = False
    role_arns: tuple[str, ...] = ()
    organization: bool = False
    role_name: str | None = None
    external_id: str | None = None
    include_caller: bool = False
    exclude_accounts: tuple[str, ...] = ()
    fail_on_scp_deny: bool = False
    """An account-region a service control policy denies fails the run (default: reported)."""

    def __post_init__(self) -> None:
        if self.all_regions and self.regions:
            raise InvalidScope("--all-regions and --region exclude each other: pass one")
        for region in self.regions:
            if not _REGION.fullmatch(region):
                raise InvalidScope(f"not an AWS region: {region!r} (expected e.g. eu-west-1)")
        if len(set(self.regions)) != len(self.regions):
            raise InvalidScope("a region is named twice")
        accounts: set[str] = set()
        for arn in self.role_arns:
            match = ROLE_ARN.fullmatch(arn)
            if match is None:
                raise InvalidScope(
                    f"not an IAM role ARN: {arn!r} (expected arn:aws:iam::ACCOUNT:role/NAME)"
                )
            if match["account"] in accounts:
                raise InvalidScope(f"account {match['account']} is named twice by --role-arn")
            accounts.add(match["account"])
        if self.role_name is not None and not self.organization:
            raise InvalidScope("--role-name needs --organization (or pass --role-arn per account)")
        if self.organization and self.role_name is None:
            raise InvalidScope("--organization needs --role-name: the role to assume in each")
        if self.role_name is not None and not _ROLE_NAME.fullmatch(self.role_name):
            raise InvalidScope(f"not an IAM role name: {self.role_name!r}")
        if self.external_id is not None and not _EXTERNAL_ID.fullmatch(self.external_id):
            raise InvalidScope(
                "--external-id takes 2 to 1224 characters of A-Z a-z 0-9 and +=,.@:/-"
            )
        if self.external_id is not None and not self.assumes:
            raise InvalidScope("--external-id needs --role-arn or --organization")
        if self.include_caller and not self.assumes:
            raise InvalidScope("--include-caller-account needs --role-arn or --organization")
        for account in self.exclude_accounts:
            if not _ACCOUNT.fullmatch(account):
                raise InvalidScope(
                    f"--exclude-account takes a 12-digit account id, got {account!r}"
                )
            if account in accounts:
                raise InvalidScope(f"account {account} is both named by --role-arn and excluded")
        if len(set(self.exclude_accounts)) != len(self.exclude_accounts):
            raise InvalidScope("an account is excluded twice")

    @property
    def assumes(self) -> bool:
        return bool(self.role_arns) or self.organization

    @property
    def single(self) -> bool:
        """Today's run: the caller's account, one region; its output and exit codes unchanged."""
        return not self.assumes and not self.all_regions and len(self.regions) <= 1


@dataclass
class Target:
    """One account-region: its own Hardener, and how it went."""

    account: str | None
    region: str
    hardener: aws.Hardener | None
    for_replicas: bool = False
    """Not selected: reached only to protect a global table's replica."""
    status: Status = "ok"
    error: AwsError | None = None
    note: str = ""
    """Why a target is skipped without an error (an account's state, --exclude-account)."""
    listed: int = 0
    """Table names ListTables gave before it failed part-way."""
    denial_fails: bool = False
    """--fail-on-scp-deny: a denied target fails the run."""
    unchecked: bool = False
    """Holds tables (replicas) whose protection is not known: a --check cannot pass on it."""

    @property
    def key(self) -> TargetKey:
        return (self.account, self.region)

    @property
    def fails(self) -> bool:
        """Whether this target makes the run a failure (exit 1)."""
        return self.status == "failed" or (self.status == "denied" and self.denial_fails)

    def fail(self, error: AwsError, *, part_way: bool = False, account_wide: bool = False) -> None:
        """The target could not be (fully) covered. Part-way (ListTables failed after a page),
        its hardener stays: the tables listed before are read and hardened as planned.
        Account-wide (its role not assumed), the account is out of reach: failed, never "denied"
        even when an SCP is what refused, since no region of it was looked at."""
        if not part_way:
            self.hardener = None
        self.error = error
        denied = scp_denied(error) and not part_way and not account_wide
        self.status = "denied" if denied else "failed"

    def interrupt(self) -> None:
        """Ctrl-C came before this account-region was read in full: it is not `ok`."""
        self.status = "interrupted"
        self.note = INTERRUPTED

    def skip(self, note: str) -> None:
        self.hardener = None
        self.status = "skipped"
        self.note = note

    @property
    def reason(self) -> str:
        error = self.error
        if error is None:
            return self.note
        if self.listed:
            return (
                f"ListTables failed after {self.listed} table names ({error}); the tables "
                "listed before are read and hardened, the rest of this account-region is "
                "unchecked"
            )
        if self.status == "denied":
            return f"denied by a service control policy ({error})"
        if error.code in REFUSED:
            return (
                f"credentials refused ({error}): invalid, or the region is not enabled for "
                "this account"
            )
        return str(error)


@dataclass(frozen=True)
class Row:
    """One table of the run, where it lives, and (for a replica) which table led to it."""

    target: TargetKey
    account: str | None
    region: str | None
    state: TableState
    replica_of: str | None = None
    """ARN of the table whose DescribeTable listed this one as its replica, when reached so."""

    @property
    def key(self) -> tuple[str | None, str | None, str]:
        return (self.target[0], self.region, self.state.name)

    @property
    def sort_key(self) -> tuple[str, str, str]:
        return (self.account or "", self.region or "", self.state.name)


@dataclass
class Member:
    """An account the run acts in: how it is reached, and its credentials once it is."""

    account: str | None
    role_arn: str | None
    """None: the caller's own credentials."""
    credentials: aws.AccountCredentials | None = None


def reaches(target: Target, ref: TableRef) -> bool:
    """Whether a --table names a table of this target: a bare name everywhere, an ARN in its
    own region and account."""
    if ref.region is not None and ref.region != target.region:
        return False
    return ref.account is None or target.account is None or ref.account == target.account


def nowhere(ref: TableRef, targets: int) -> Row:
    error = AwsError(
        "dynamodb:ListTables",
        "TableNotFound",
        f"no table {ref.name} in any of the {targets} account-regions this run reached",
    )
    return Row(
        (ref.account, ref.region or ""), ref.account, ref.region, TableState(ref.name, error=error)
    )


__all__ = [
    "ACCESS_DENIED",
    "ALL_ACCOUNT_REGIONS",
    "CALLER_LEFT_OUT",
    "FOLLOWED_REPLICA",
    "INTERRUPTED",
    "REFUSED",
    "ROLE_ARN",
    "SCP_DENY",
    "UNKNOWN_TO_BOTOCORE",
    "InvalidScope",
    "Member",
    "Row",
    "Scope",
    "Status",
    "Target",
    "TargetKey",
    "nowhere",
    "reaches",
    "scp_denied",
]
