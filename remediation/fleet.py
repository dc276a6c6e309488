"""Accounts x regions: the outer layer that runs the one `aws.Hardener` in every account-region.

Like c7n-org, the hardener is unchanged: this module works out the accounts (the caller's, the
roles', the organization's ACTIVE ones), reaches each on the shared pool when it is first used (its
role assumed then, refreshed from then on; under --all-regions, its enabled regions asked), gives
each account-region a Hardener of its own (so pacers of its own: AWS's quotas are per account and
region) on one client per region shared by every account, and runs every target's discovery, reads
and writes on that one bounded pool, taking turns across targets, so that N account-regions take
about the time of the largest one. A global table's replicas are followed into their own account
and region. Nothing here judges a table: that is `core`. See docs/organizations.md.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict, deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from remediation import aws, core
from remediation.controls import Control
from remediation.core import (
    AwsError,
    Change,
    Outcome,
    Replica,
    Selection,
    TableRef,
    TableState,
)

if TYPE_CHECKING:
    from boto3.session import Session
else:
    Session = Any

SESSION_NAME = "sentinel-harden"
"""RoleSessionName of every assumption: CloudTrail in the member account shows who came."""

ASSUME_ACTION = "sts:AssumeRole"
"""The caller's one action for --role-arn: on the roles it names, nothing else."""
LIST_ACCOUNTS_ACTION = "organizations:ListAccounts"
"""Only for --organization."""
CALLER_IDENTITY_ACTION = "sts:GetCallerIdentity"
"""Called to know the caller's own account; AWS allows it to everyone, so no policy lists it."""
REGIONS_ACTION = "ec2:DescribeRegions"
"""Only for --all-regions: each account's enabled regions, asked with its own credentials."""


UNKNOWN_TO_BOTOCORE = (
    "region enabled for this account, but the installed botocore lists no DynamoDB there: "
    "not checked (upgrade boto3 to check it)"
)
"""Why an --all-regions run lists a region the account has enabled and botocore does not know."""

CALLER_LEFT_OUT = (
    "the caller's own account (--include-caller-account hardens it with the caller's credentials)"
)
"""Why an organization run lists the caller's account as skipped."""


def caller_actions(organization: bool) -> tuple[str, ...]:
    """The IAM actions the caller needs to reach the member accounts of a fleet run."""
    return (ASSUME_ACTION, LIST_ACCOUNTS_ACTION) if organization else (ASSUME_ACTION,)


def account_actions(all_regions: bool) -> tuple[str, ...]:
    """The IAM actions, beyond the DynamoDB ones, each account's role needs."""
    return (REGIONS_ACTION,) if all_regions else ()


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

FOLLOWED_REPLICA = frozenset({"ACTIVE", "UPDATING", "CREATING"})
"""Replica statuses that are a table to protect. CREATING is read like any table still being
created: a write waits for it (--wait-timeout); every other status is reported, not written."""
_ROLE_ARN = re.compile(
    r"arn:(?P<partition>aws[a-z-]*):iam::(?P<account>\d{12}):role/[\w+=,.@-]+(?:/[\w+=,.@-]+)*"
)
_ROLE_NAME = re.compile(r"[\w+=,.@-]{1,64}")
_EXTERNAL_ID = re.compile(r"[\w+=,.@:/-]{2,1224}")
_REGION = re.compile(r"[a-z]{2}(?:-[a-z]+)+-\d{1,2}")

TargetKey = tuple[str | None, str]
"""(account, region). The account is None for the caller's own when no run needs its id."""

Status = Literal["ok", "failed", "skipped", "denied"]
ALL_ACCOUNT_REGIONS = core.ACCOUNT_WIDE
"""The region of an account-wide entry when the account's regions are not known (a role that
cannot be assumed under --all-regions, an account skipped for its state)."""


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
            match = _ROLE_ARN.fullmatch(arn)
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
        if self.exclude_accounts and not self.assumes:
            raise InvalidScope("--exclude-account needs --organization or --role-arn")
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

    @property
    def key(self) -> TargetKey:
        return (self.account, self.region)

    @property
    def fails(self) -> bool:
        """Whether this target makes the run a failure (exit 1)."""
        return self.status == "failed" or (self.status == "denied" and self.denial_fails)

    def fail(self, error: AwsError, *, part_way: bool = False) -> None:
        """The target could not be (fully) covered. Part-way (ListTables failed after a page),
        its hardener stays: the tables listed before are read and hardened as planned."""
        if not part_way:
            self.hardener = None
        self.error = error
        self.status = "denied" if scp_denied(error) and not part_way else "failed"

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
class _Task:
    lane: TargetKey
    work: Callable[[], Any]
    then: Callable[[Any], Iterable[_Task]]
    """Runs on the calling thread with the result; returns follow-up tasks."""
    urgent: bool = False
    counted: bool = True


@dataclass
class _Tally:
    done: int = 0
    total: int = 0


@dataclass
class _Member:
    """An account the run acts in: how it is reached, and its credentials once it is."""

    account: str | None
    role_arn: str | None
    """None: the caller's own credentials."""
    credentials: aws.AccountCredentials | None = None


class Fleet:
    """The targets of one run, and the shared pool their calls run on."""

    def __init__(self, scope: Scope, settings: aws.Settings) -> None:
        self.scope = scope
        self.settings = settings
        self._cancel = threading.Event()
        self._session = aws.make_session(settings)
        self.home = aws.session_region(self._session)
        if scope.regions:
            self.regions: tuple[str, ...] = scope.regions
        elif scope.all_regions:
            # Candidates only: each account's enabled regions come from the account itself.
            self.regions = tuple(aws.dynamodb_regions(self._session, self.home))
        elif self.home:
            self.regions = (self.home,)
        else:
            raise aws.SetupError("no AWS region: pass --region or set AWS_REGION")
        self.targets: dict[TargetKey, Target] = {}
        self._members: dict[str | None, _Member] = {}
        self._clients = aws.SharedClients(self._session, settings)
        self._identity: aws.Identity | None = None
        self._lock = threading.Lock()

    # -- before any call -----------------------------------------------------------------------

    def check_refs(self, refs: Sequence[TableRef]) -> None:
        """An ARN --table outside the run's regions is refused: the run never reaches it."""
        for ref in refs:
            if ref.region is not None and ref.region not in self.regions:
                uses = ", ".join(self.regions)
                raise InvalidScope(
                    f"table ARN is in region {ref.region} but this run uses {uses}: "
                    f"pass --region {ref.region}"
                )

    # -- accounts ------------------------------------------------------------------------------

    def cancel(self) -> None:
        self._cancel.set()

    def connect(self) -> None:
        """Work out the accounts the run acts in (GetCallerIdentity, ListAccounts); no role is
        assumed here: each is assumed when its account is first used, on the shared pool.

        The caller's account or the organization unusable is a SetupError, and so is an
        organization run left with no account to act in; one role that cannot be assumed
        fails that account's targets only.
        """
        scope = self.scope
        if scope.single:
            client = aws.dynamodb_client(self._session, self.regions[0], self.settings)
            hardener = aws.Hardener(client, self.settings, self._cancel)
            target = Target(None, self.regions[0], hardener)
            self.targets[target.key] = target
            return
        identity = aws.Identity(
            self._session, self.home, self.settings, self._cancel, self._clients
        )
        self._identity = identity
        caller: str | None = None
        # Who the caller is: its own account is hardened with its own credentials, and never
        # assumed into when the organization lists it (the management account is a member).
        if not scope.assumes or scope.include_caller or scope.organization:
            try:
                caller = identity.caller_account()
            except aws.CallFailed as exc:
                raise aws.SetupError(f"cannot tell the caller's account: {exc.error}") from None
        roles = {_ROLE_ARN.fullmatch(arn)["account"]: arn for arn in scope.role_arns}  # type: ignore[index]
        excluded = set(scope.exclude_accounts)
        if scope.organization:
            roles.update(self._organization(identity, caller, excluded))
        if caller is not None and (not scope.assumes or scope.include_caller):
            roles.pop(caller, None)  # the caller's own credentials already reach it
            if caller in excluded:
                self._skip_account(caller, "excluded by --exclude-account")
            else:
                self._members[caller] = _Member(caller, None)
        for account, arn in sorted(roles.items()):
            if account in excluded:
                self._skip_account(account, "excluded by --exclude-account")
            else:
                self._members[account] = _Member(account, arn)
        if not self._members:
            skipped = ", ".join(f"{t.account} ({t.note})" for t in self.targets.values())
            raise aws.SetupError(
                "no account to run in: the organization lists none that is ACTIVE and not "
                "excluded" + (f" (skipped: {skipped})" if skipped else "")
            )

    def _organization(
        self, identity: aws.Identity, caller: str | None, excluded: set[str]
    ) -> dict[str, str]:
        """The member accounts to assume into, by id; every other one listed as skipped."""
        try:
            accounts = identity.accounts()
        except aws.CallFailed as exc:
            raise aws.SetupError(f"cannot list the organization's accounts: {exc.error}") from None
        listed = {account.id for account in accounts}
        unknown = sorted(excluded - listed)
        if unknown:
            raise aws.SetupError(
                f"--exclude-account {', '.join(unknown)}: not an account of the organization "
                f"({len(listed)} listed)"
            )
        partition = self._session.get_partition_for_region(self.home or "us-east-1")
        roles: dict[str, str] = {}
        for account in accounts:
            if account.id in excluded:
                self._skip_account(account.id, "excluded by --exclude-account")
                continue
            if account.id == caller:
                # Reached with its own credentials, or not at all: never left out unsaid.
                if not self.scope.include_caller:
                    self._skip_account(account.id, CALLER_LEFT_OUT)
                continue
            if account.state is None:
                target = Target(account.id, ALL_ACCOUNT_REGIONS, None)
                target.fail(
                    AwsError(
                        LIST_ACCOUNTS_ACTION,
                        "NoAccountState",
                        "Organizations answered neither State nor Status for this account",
                    )
                )
                self.targets[target.key] = target
            elif account.state != aws.ACTIVE:
                self._skip_account(account.id, f"account state {account.state}")
            else:
                roles[account.id] = f"arn:{partition}:iam::{account.id}:role/{self.scope.role_name}"
        return roles

    def _skip_account(self, account: str, note: str) -> None:
        target = Target(account, ALL_ACCOUNT_REGIONS, None)
        target.skip(note)
        self.targets[target.key] = target

    def _reach(self, member: _Member) -> tuple[aws.AccountCredentials, dict[str, bool] | None]:
        """On the pool: the account's credentials (its role assumed now, refreshed from now
        on) and, under --all-regions, its regions and whether each is enabled."""
        identity = self._identity
        assert identity is not None
        if member.role_arn is None:
            credentials = identity.caller_credentials()
        else:
            credentials = identity.assume(member.role_arn, SESSION_NAME, self.scope.external_id)
        regions = identity.enabled_regions(credentials) if self.scope.all_regions else None
        return credentials, regions

    def _reached(
        self, member: _Member, answer: tuple[aws.AccountCredentials, dict[str, bool] | None]
    ) -> list[str]:
        """The account is reached: its targets, in the regions it has enabled."""
        credentials, enabled = answer
        member.credentials = credentials
        regions = list(self.regions)
        if enabled is not None:
            regions = [r for r in self.regions if enabled.get(r, False)]
            for region in self.regions:
                if region not in regions:
                    target = Target(member.account, region, None)
                    why = "not enabled" if region in enabled else "not offered"
                    target.skip(f"region {why} for this account (ec2:DescribeRegions)")
                    self.targets[target.key] = target
            # Enabled, but botocore lists no DynamoDB there (a region newer than it): never
            # passed over unsaid.
            unknown = [r for r, on in enabled.items() if on and r not in self.regions]
            session = self._session
            for region in sorted(r for r in unknown if aws.in_partition(session, r, self.home)):
                target = Target(member.account, region, None)
                target.skip(UNKNOWN_TO_BOTOCORE)
                self.targets[target.key] = target
        for region in regions:
            self._target(member.account, region)
        return regions

    def _unreached(self, member: _Member, error: AwsError) -> None:
        """The role cannot be assumed (or the regions listed): every target of the account."""
        regions = (ALL_ACCOUNT_REGIONS,) if self.scope.all_regions else self.regions
        for region in regions:
            target = Target(member.account, region, None)
            target.fail(error)
            target.status = "failed"  # the account, not a region, is out of reach: never "denied"
            self.targets[target.key] = target

    def _unreached_replica(self, account: str | None, region: str, name: str) -> None:
        """A replica in an account the run does not reach: reported as such, not failed."""
        with self._lock:
            target = self.targets.get((account, region))
            if target is None:
                target = Target(account, region, None, for_replicas=True)
                target.skip("replicas in an account this run does not reach:")
                self.targets[target.key] = target
            if target.status == "skipped" and name not in target.note.split(" "):
                target.note += f" {name}"

    def _target(self, account: str | None, region: str, for_replicas: bool = False) -> Target:
        with self._lock:
            target = self.targets.get((account, region))
            if target is None:
                member = self._members.get(account)
                if member is None:  # today's one-target run, following a replica
                    client = aws.dynamodb_client(self._session, region, self.settings)
                    hardener = aws.Hardener(client, self.settings, self._cancel)
                else:
                    client = self._clients.get("dynamodb", region)
                    hardener = aws.Hardener(client, self.settings, self._cancel, member.credentials)
                target = Target(account, region, hardener, for_replicas)
                target.denial_fails = self.scope.fail_on_scp_deny
                self.targets[target.key] = target
            return target

    def security_hub(self, key: TargetKey) -> aws.SecurityHub:
        """The Security Hub of one account-region, with the credentials that reach its tables
        (BatchImportFindings must come from the account the findings are about)."""
        account, region = key
        member = self._members.get(account)
        if member is None or member.credentials is None:  # today's one-target run
            client = aws.securityhub_client(self._session, region, self.settings)
            return aws.SecurityHub(client, self._cancel)
        client = self._clients.get("securityhub", region)
        return aws.SecurityHub(client, self._cancel, member.credentials)

    # -- read ----------------------------------------------------------------------------------

    def read(
        self,
        selection: Selection,
        refs: Sequence[TableRef],
        controls: Sequence[Control],
        progress: aws.ProgressCallback | None = None,
        excluded: list[tuple[str | None, str | None, str]] | None = None,
    ) -> list[Row]:
        """Discover (or take `refs`) and read every table of every target, and every replica of
        those in regions not selected; each (account, region, table) once. Rows come sorted.

        Names `selection` excludes go to `excluded` (account, region, name) and are never read;
        an excluded --table is listed once, with no account or region.
        """
        left_out = excluded if excluded is not None else []
        for ref in refs:
            if selection.excludes(ref.name):
                left_out.append((ref.account, ref.region, ref.name))
        refs = [ref for ref in refs if not selection.excludes(ref.name)]
        states: dict[tuple[TargetKey, str], TableState] = {}
        sources: dict[tuple[TargetKey, str], set[TargetKey]] = {}
        tally = _Tally()

        def read_task(target: Target, name: str) -> _Task:
            tally.total += 1
            hardener = target.hardener
            assert hardener is not None
            return _Task(
                target.key, lambda: hardener.read(name, controls), lambda s: got(target, s)
            )

        def got(target: Target, state: TableState) -> list[_Task]:
            states[(target.key, state.name)] = state
            own = _arn_account(state.arn)
            follow = []
            for replica in state.replicas:
                # Followed by its ReplicaArn's account and region, not by region alone.
                account = target.account if replica.account in (None, own) else replica.account
                follow += follow_replica(target, state, replica, account)
            return follow

        def follow_replica(
            origin: Target, state: TableState, replica: Replica, account: str | None
        ) -> list[_Task]:
            key = ((account, replica.region), state.name)
            member = self._members.get(account)
            selected = replica.region in self.regions and (self.scope.single or member is not None)
            if replica.status not in FOLLOWED_REPLICA and key not in states:
                # Not a table to write (being deleted, archived, its key inaccessible, never
                # created): reported with its status, never read or written.
                claimed.add(key)
                sources.setdefault(key, set()).add(origin.key)
                status = replica.status or "missing"
                states[key] = TableState(
                    state.name,
                    arn=replica.arn,
                    status=replica.status,
                    error=AwsError(
                        "dynamodb:DescribeTable",
                        "ReplicaNotWritable",
                        f"ReplicaStatus {status} in {state.arn}'s description: reported, "
                        "neither read nor written",
                    ),
                )
                return []
            if selected:
                return []  # a selected account-region: its own discovery reads it
            if not self.scope.single and member is None:
                self._unreached_replica(account, replica.region, state.name)
                return []
            if member is not None and member.credentials is None:
                # Its account is being reached: follow once it is (or never, if it fails).
                waiting.setdefault(account, []).append(
                    lambda: follow_replica(origin, state, replica, account)
                )
                return []
            sources.setdefault(key, set()).add(origin.key)
            if key in states or key in claimed:
                return []
            claimed.add(key)
            found = self._target(account, replica.region, for_replicas=True)
            return [read_task(found, state.name)] if found.hardener is not None else []

        waiting: dict[str | None, list[Callable[[], list[_Task]]]] = {}

        claimed: set[tuple[TargetKey, str]] = set()
        wanted = {ref.name for ref in refs}

        def pick(target: Target, page: Sequence[str]) -> list[str]:
            if not refs:
                chosen, dropped = selection.partition(page)
                left_out.extend((target.account, target.region, name) for name in dropped)
                return chosen
            return [
                name
                for name in page
                if name in wanted and any(_reaches(target, r) for r in refs if r.name == name)
            ]

        def page_task(target: Target, start: str | None) -> _Task:
            hardener = target.hardener
            assert hardener is not None
            return _Task(
                target.key,
                lambda: _attempt(lambda: hardener.page(start)),
                page_from(target, start),
                urgent=True,
                counted=False,
            )

        def page_from(target: Target, start: str | None) -> Callable[[Any], list[_Task]]:
            return lambda answer: paged(target, start, answer)

        def paged(
            target: Target, asked: str | None, answer: tuple[list[str], str | None] | AwsError
        ) -> list[_Task]:
            if isinstance(answer, AwsError):
                if self.scope.single and asked is None:
                    raise aws.discovery_error(answer)
                # Part-way, what was listed is read and hardened: the target still fails, so
                # the run does too, and the rest of the account-region is said to be unchecked.
                target.fail(answer, part_way=asked is not None)
                return []
            names, start = answer
            target.listed += len(names)
            follow = []
            for name in pick(target, names):
                key = (target.key, name)
                if key not in claimed:
                    claimed.add(key)
                    follow.append(read_task(target, name))
            if start:
                follow.append(page_task(target, start))
            return follow

        def reach_task(member: _Member) -> _Task:
            return _Task(
                (member.account, ALL_ACCOUNT_REGIONS),
                lambda: _attempt(lambda: self._reach(member)),
                lambda answer: reached(member, answer),
                urgent=True,
                counted=False,
            )

        def reached(member: _Member, answer: Any) -> list[_Task]:
            parked = waiting.pop(member.account, [])
            if isinstance(answer, AwsError):
                self._unreached(member, answer)  # its replicas fail with the account
                return []
            regions = self._reached(member, answer)
            pages = [page_task(self.targets[(member.account, region)], None) for region in regions]
            return pages + [task for resume in parked for task in resume()]

        initial: list[_Task] = []
        if self.scope.single:
            for target in list(self.targets.values()):
                if refs:
                    # Today's one-target run reads the named tables directly: no ListTables.
                    for ref in refs:
                        claimed.add((target.key, ref.name))
                        initial.append(read_task(target, ref.name))
                else:
                    initial.append(page_task(target, None))
        else:
            # Each account is reached (its role assumed) when the pool first gets to it, so a
            # Ctrl-C stops the assumptions not yet started.
            initial = [reach_task(member) for member in self._members.values()]
        self._run(initial, tally, progress)

        rows = []
        for (key, name), state in states.items():
            replica_of = None
            found = sources.get((key, name))
            if found:
                origin = min(found, key=lambda k: (k[1] not in self.regions, k[0] or "", k[1]))
                origin_state = states.get((origin, name))
                replica_of = origin_state.arn if origin_state else None
            account = key[0] or _arn_account(state.arn)
            rows.append(Row(key, account, key[1], state, replica_of))
        if refs and not self.scope.single:
            found_names = {row.state.name for row in rows}
            for ref in refs:
                if ref.name not in found_names:
                    rows.append(_nowhere(ref, len(self.ok_targets())))
        return sorted(rows, key=lambda r: r.sort_key)

    def ok_targets(self) -> list[Target]:
        return [t for t in self.targets.values() if t.status == "ok"]

    # -- act -----------------------------------------------------------------------------------

    def apply(
        self,
        changes: Sequence[tuple[Row, Change]],
        outcomes: dict[tuple[str | None, str | None, str], Outcome],
        progress: aws.ProgressCallback | None = None,
    ) -> None:
        """Apply every change in its own target; each outcome lands in `outcomes` as it ends,
        so an interrupted run still has what finished."""
        tally = _Tally()
        tasks = []
        for row, change in changes:
            hardener = self.targets[row.target].hardener
            if hardener is None:  # never so: a row is read through its target's hardener
                raise aws.SetupError(f"account-region {row.target} has no client for its rows")
            tally.total += 1
            tasks.append(
                _Task(
                    row.target,
                    _bind(hardener.apply, row.state, change),
                    _store(outcomes, row.key),
                )
            )
        self._run(tasks, tally, progress)

    # -- the shared pool -----------------------------------------------------------------------

    def _run(
        self, initial: Iterable[_Task], tally: _Tally, progress: aws.ProgressCallback | None
    ) -> None:
        """Run tasks on one bounded pool, at most `workers` at a time, handing the next free
        worker to the next target in turn (discovery pages first): a target waiting on its own
        pacer never holds every worker while other targets have work.

        On KeyboardInterrupt (or any error): cancel (no new calls), wait for calls in flight,
        keep what they finished, and re-raise.
        """
        lanes: OrderedDict[TargetKey, deque[_Task]] = OrderedDict()
        urgent: deque[_Task] = deque()
        running: dict[Future[Any], _Task] = {}

        def add(task: _Task) -> None:
            (urgent if task.urgent else lanes.setdefault(task.lane, deque())).append(task)

        def take() -> _Task | None:
            if urgent:
                return urgent.popleft()
            while lanes:
                lane, queue = next(iter(lanes.items()))
                if not queue:
                    del lanes[lane]
                    continue
                lanes.move_to_end(lane)
                return queue.popleft()
            return None

        def finish(future: Future[Any], task: _Task) -> None:
            follow = list(task.then(future.result()))
            if task.counted:
                tally.done += 1
            # An account just reached is discovered before the next role is assumed: its
            # urgent follow-ups go ahead of the reaches still queued, in their own order.
            urgent.extendleft(reversed([t for t in follow if t.urgent]))
            for next_task in follow:
                if not next_task.urgent:
                    add(next_task)
            if task.counted and progress:
                progress(tally.done, tally.total)

        pool = ThreadPoolExecutor(max_workers=self.settings.workers)
        try:
            for first in initial:
                add(first)
            while True:
                while len(running) < self.settings.workers:
                    task = take()
                    if task is None:
                        break
                    running[pool.submit(task.work)] = task
                if not running:
                    break
                done, _ = wait(running, timeout=0.2, return_when=FIRST_COMPLETED)
                for future in done:
                    finish(future, running.pop(future))
        except BaseException:
            self._cancel.set()
            pool.shutdown(wait=True, cancel_futures=True)
            for future, task in running.items():
                if not future.cancelled() and future.exception() is None:
                    task.then(future.result())
            raise
        pool.shutdown(wait=True)


def _attempt(fn: Callable[[], Any]) -> Any:
    try:
        return fn()
    except aws.CallFailed as exc:
        return exc.error


def _bind(fn: Callable[[TableState, Change], Outcome], state: TableState, change: Change) -> Any:
    return lambda: fn(state, change)


def _store(
    outcomes: dict[tuple[str | None, str | None, str], Outcome],
    key: tuple[str | None, str | None, str],
) -> Callable[[Outcome], list[_Task]]:
    def store(outcome: Outcome) -> list[_Task]:
        outcomes[key] = outcome
        return []

    return store


def _reaches(target: Target, ref: TableRef) -> bool:
    """Whether a --table names a table of this target: a bare name everywhere, an ARN in its
    own region and account."""
    if ref.region is not None and ref.region != target.region:
        return False
    return ref.account is None or target.account is None or ref.account == target.account


def _arn_account(arn: str | None) -> str | None:
    parts = (arn or "").split(":")
    return parts[4] if len(parts) > 5 else None


def _nowhere(ref: TableRef, targets: int) -> Row:
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
    "ASSUME_ACTION",
    "CALLER_IDENTITY_ACTION",
    "LIST_ACCOUNTS_ACTION",
    "REFUSED",
    "REGIONS_ACTION",
    "SCP_DENY",
    "SESSION_NAME",
    "Fleet",
    "InvalidScope",
    "Row",
    "Scope",
    "Target",
    "TargetKey",
    "account_actions",
    "caller_actions",
    "scp_denied",
]
