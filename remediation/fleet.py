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
    Selection,
    TableRef,
    TableState,
    parse_arn,
)
from remediation.fleet_reading import Reading
from remediation.targets import (
    ACCESS_DENIED,
    ALL_ACCOUNT_REGIONS,
    CALLER_LEFT_OUT,
    REFUSED,
    SCP_DENY,
    UNKNOWN_TO_BOTOCORE,
    InvalidScope,
    Member,
    Row,
    Scope,
    Target,
    TargetKey,
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
        self.interrupted = False
        """A Ctrl-C stopped `read` part-way: its rows are what was read before it."""

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
        """A replica in an account the run does not reach: reported as such, not failed; its
        protection is unknown, so it fails a --check unless --exclude-account names it."""
        with self._lock:
            target = self.targets.get((account, region))
            if target is None:
                target = Target(account, region, None, for_replicas=True)
                if account in self.scope.exclude_accounts:
                    target.skip("replicas in an account excluded by --exclude-account:")
                else:
                    target.skip("replicas in an account this run does not reach:")
                    target.unchecked = True
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
        On Ctrl-C, the rows read so far, and `interrupted` set.

        Names `selection` excludes go to `excluded` (account, region, name) and are never read;
        an excluded --table is listed once, with no account or region.
        """
        left_out = excluded if excluded is not None else []
        for ref in refs:
            if selection.excludes(ref.name):
                left_out.append((ref.account, ref.region, ref.name))
        refs = [ref for ref in refs if not selection.excludes(ref.name)]
        reading = Reading(self, selection, refs, controls, left_out)
        try:
            pool.run(reading.first(), reading.tally, progress, self.settings.workers, self._cancel)
        except KeyboardInterrupt:
            # Ctrl-C: no new call; what was read is kept, and each account-region not read in
            # full says so. The caller judges and reports it, and ends the run as interrupted.
            self.interrupted = True
            reading.interrupted()
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
