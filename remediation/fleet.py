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

import threading
from collections.abc import Callable, Sequence
from typing import Any

from remediation import aws, pool
from remediation.controls import Control
from remediation.core import (
    AwsError,
    Change,
    Outcome,
    Replica,
    Selection,
    TableRef,
    TableState,
    parse_arn,
)
from remediation.targets import (
    ACCESS_DENIED,
    ALL_ACCOUNT_REGIONS,
    CALLER_LEFT_OUT,
    FOLLOWED_REPLICA,
    REFUSED,
    SCP_DENY,
    UNKNOWN_TO_BOTOCORE,
    InvalidScope,
    Member,
    Row,
    Scope,
    Target,
    TargetKey,
    nowhere,
    reaches,
    scp_denied,
)

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


def caller_actions(organization: bool) -> tuple[str, ...]:
    """The IAM actions the caller needs to reach the member accounts of a fleet run."""
    return (ASSUME_ACTION, LIST_ACCOUNTS_ACTION) if organization else (ASSUME_ACTION,)


def account_actions(all_regions: bool) -> tuple[str, ...]:
    """The IAM actions, beyond the DynamoDB ones, each account's role needs."""
    return (REGIONS_ACTION,) if all_regions else ()


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
        self._members: dict[str | None, Member] = {}
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
        roles = {a.account: arn for arn in scope.role_arns if (a := parse_arn(arn)) and a.account}
        excluded = set(scope.exclude_accounts)
        if scope.organization:
            roles.update(self._organization(identity, caller, excluded))
        if caller is not None and (not scope.assumes or scope.include_caller):
            roles.pop(caller, None)  # the caller's own credentials already reach it
            if caller in excluded:
                self._skip_account(caller, "excluded by --exclude-account")
            else:
                self._members[caller] = Member(caller, None)
        for account, arn in sorted(roles.items()):
            if account in excluded:
                self._skip_account(account, "excluded by --exclude-account")
            else:
                self._members[account] = Member(account, arn)
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

    def _reach(self, member: Member) -> tuple[aws.AccountCredentials, dict[str, bool] | None]:
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
        self, member: Member, answer: tuple[aws.AccountCredentials, dict[str, bool] | None]
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

    def _unreached(self, member: Member, error: AwsError) -> None:
        """The role cannot be assumed (or the regions listed): every target of the account."""
        regions = (ALL_ACCOUNT_REGIONS,) if self.scope.all_regions else self.regions
        for region in regions:
            target = Target(member.account, region, None)
            target.fail(error, account_wide=True)
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
        reading = _Reading(self, selection, refs, controls, left_out)
        pool.run(reading.first(), reading.tally, progress, self.settings.workers, self._cancel)
        return reading.rows()

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
        tally = pool.Tally()
        tasks = []
        for row, change in changes:
            hardener = self.targets[row.target].hardener
            if hardener is None:  # never so: a row is read through its target's hardener
                raise aws.SetupError(f"account-region {row.target} has no client for its rows")
            tally.total += 1
            tasks.append(
                pool.Task(
                    row.target,
                    _bind(hardener.apply, row.state, change),
                    _store(outcomes, row.key),
                )
            )
        pool.run(tasks, tally, progress, self.settings.workers, self._cancel)

    # -- the shared pool -----------------------------------------------------------------------


class _Reading:
    """One `Fleet.read`, in stages run on the shared pool: reach each account (its role
    assumed), discover each target's tables (ListTables pages), read each table, and follow
    its replicas into their own account and region. Each (account, region, table) is read
    once; `rows` is what came of it."""

    def __init__(
        self,
        fleet: Fleet,
        selection: Selection,
        refs: Sequence[TableRef],
        controls: Sequence[Control],
        left_out: list[tuple[str | None, str | None, str]],
    ) -> None:
        self.fleet = fleet
        self.selection = selection
        self.refs = refs
        self.controls = controls
        self.left_out = left_out
        self.states: dict[tuple[TargetKey, str], TableState] = {}
        self.sources: dict[tuple[TargetKey, str], set[TargetKey]] = {}
        self.tally = pool.Tally()
        self.waiting: dict[str | None, list[Callable[[], list[pool.Task]]]] = {}
        self.claimed: set[tuple[TargetKey, str]] = set()
        self.wanted = {ref.name for ref in refs}

    def first(self) -> list[pool.Task]:
        """The tasks the run starts with: reach every account, or (today's one-target run)
        discover its tables, or read the named ones."""
        fleet = self.fleet
        initial: list[pool.Task] = []
        if fleet.scope.single:
            for target in list(fleet.targets.values()):
                if self.refs:
                    # Today's one-target run reads the named tables directly: no ListTables.
                    for ref in self.refs:
                        self.claimed.add((target.key, ref.name))
                        initial.append(self.read(target, ref.name))
                else:
                    initial.append(self.discover(target, None))
        else:
            # Each account is reached (its role assumed) when the pool first gets to it, so a
            # Ctrl-C stops the assumptions not yet started.
            initial = [self.reach(member) for member in fleet._members.values()]
        return initial

    # -- reach: an account's credentials, and its regions ----------------------------------

    def reach(self, member: Member) -> pool.Task:
        return pool.Task(
            (member.account, ALL_ACCOUNT_REGIONS),
            lambda: pool.attempt(lambda: self.fleet._reach(member)),
            lambda answer: self._reached(member, answer),
            urgent=True,
            counted=False,
        )

    def _reached(self, member: Member, answer: Any) -> list[pool.Task]:
        fleet = self.fleet
        parked = self.waiting.pop(member.account, [])
        if isinstance(answer, AwsError):
            fleet._unreached(member, answer)  # its replicas fail with the account
            return []
        regions = fleet._reached(member, answer)
        pages = [self.discover(fleet.targets[(member.account, region)], None) for region in regions]
        return pages + [task for resume in parked for task in resume()]

    # -- discover: a target's tables, page by page -----------------------------------------

    def discover(self, target: Target, start: str | None) -> pool.Task:
        hardener = target.hardener
        assert hardener is not None
        return pool.Task(
            target.key,
            lambda: pool.attempt(lambda: hardener.page(start)),
            lambda answer: self._paged(target, start, answer),
            urgent=True,
            counted=False,
        )

    def _paged(
        self, target: Target, asked: str | None, answer: tuple[list[str], str | None] | AwsError
    ) -> list[pool.Task]:
        if isinstance(answer, AwsError):
            if self.fleet.scope.single and asked is None:
                raise aws.discovery_error(answer)
            # Part-way, what was listed is read and hardened: the target still fails, so
            # the run does too, and the rest of the account-region is said to be unchecked.
            target.fail(answer, part_way=asked is not None)
            return []
        names, start = answer
        target.listed += len(names)
        follow = []
        for name in self._pick(target, names):
            key = (target.key, name)
            if key not in self.claimed:
                self.claimed.add(key)
                follow.append(self.read(target, name))
        if start:
            follow.append(self.discover(target, start))
        return follow

    def _pick(self, target: Target, page: Sequence[str]) -> list[str]:
        refs = self.refs
        if not refs:
            chosen, dropped = self.selection.partition(page)
            self.left_out.extend((target.account, target.region, name) for name in dropped)
            return chosen
        return [
            name
            for name in page
            if name in self.wanted and any(reaches(target, r) for r in refs if r.name == name)
        ]

    # -- read: a table, then its replicas --------------------------------------------------

    def read(self, target: Target, name: str) -> pool.Task:
        self.tally.total += 1
        hardener = target.hardener
        assert hardener is not None
        controls = self.controls
        return pool.Task(
            target.key, lambda: hardener.read(name, controls), lambda s: self._got(target, s)
        )

    def _got(self, target: Target, state: TableState) -> list[pool.Task]:
        self.states[(target.key, state.name)] = state
        own = _account_of(state.arn)
        follow = []
        for replica in state.replicas:
            # Followed by its ReplicaArn's account and region, not by region alone.
            account = target.account if replica.account in (None, own) else replica.account
            follow += self._follow_replica(target, state, replica, account)
        return follow

    def _follow_replica(
        self, origin: Target, state: TableState, replica: Replica, account: str | None
    ) -> list[pool.Task]:
        fleet, states, sources, claimed = self.fleet, self.states, self.sources, self.claimed
        key = ((account, replica.region), state.name)
        member = fleet._members.get(account)
        selected = replica.region in fleet.regions and (fleet.scope.single or member is not None)
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
        if not fleet.scope.single and member is None:
            fleet._unreached_replica(account, replica.region, state.name)
            return []
        if member is not None and member.credentials is None:
            # Its account is being reached: follow once it is (or never, if it fails).
            self.waiting.setdefault(account, []).append(
                lambda: self._follow_replica(origin, state, replica, account)
            )
            return []
        sources.setdefault(key, set()).add(origin.key)
        if key in states or key in claimed:
            return []
        claimed.add(key)
        found = fleet._target(account, replica.region, for_replicas=True)
        return [self.read(found, state.name)] if found.hardener is not None else []

    # -- what came of it -------------------------------------------------------------------

    def rows(self) -> list[Row]:
        """Every table read, with the table that led to it when it is a replica; a --table found
        in no account-region of a fleet run is a row of its own. Sorted."""
        fleet, states = self.fleet, self.states
        rows = []
        for (key, name), state in states.items():
            replica_of = None
            found = self.sources.get((key, name))
            if found:
                origin = min(found, key=lambda k: (k[1] not in fleet.regions, k[0] or "", k[1]))
                origin_state = states.get((origin, name))
                replica_of = origin_state.arn if origin_state else None
            account = key[0] or _account_of(state.arn)
            rows.append(Row(key, account, key[1], state, replica_of))
        if self.refs and not fleet.scope.single:
            found_names = {row.state.name for row in rows}
            for ref in self.refs:
                if ref.name not in found_names:
                    rows.append(nowhere(ref, len(fleet.ok_targets())))
        return sorted(rows, key=lambda r: r.sort_key)


def _account_of(arn: str | None) -> str | None:
    parsed = parse_arn(arn)
    return parsed.account if parsed else None


def _bind(fn: Callable[[TableState, Change], Outcome], state: TableState, change: Change) -> Any:
    return lambda: fn(state, change)


def _store(
    outcomes: dict[tuple[str | None, str | None, str], Outcome],
    key: tuple[str | None, str | None, str],
) -> Callable[[Outcome], list[pool.Task]]:
    def store(outcome: Outcome) -> list[pool.Task]:
        outcomes[key] = outcome
        return []

    return store


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
