"""One `Fleet.read`, in named stages on the shared pool: reach each account, discover each
target's tables, read each table, and follow its replicas into their own account and region.

Split from `fleet` by idea: the fleet knows accounts and regions, this module knows the order of a
read and what came of it (rows, and which targets a Ctrl-C left read only in part).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from remediation import aws, pool
from remediation.controls import Control
from remediation.core import AwsError, Replica, Selection, TableRef, TableState, parse_arn
from remediation.targets import (
    ALL_ACCOUNT_REGIONS,
    FOLLOWED_REPLICA,
    Member,
    Row,
    Target,
    TargetKey,
    nowhere,
    reaches,
)

if TYPE_CHECKING:
    from remediation.fleet import Fleet


class Reading:
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
        self.open: Counter[TargetKey] = Counter()
        """Discovery pages and reads asked and not answered, by target."""
        self.reaching: set[str | None] = set()
        """Accounts whose reach (role, regions) is asked and not answered."""

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
        self.reaching.add(member.account)
        return pool.Task(
            (member.account, ALL_ACCOUNT_REGIONS),
            lambda: pool.attempt(lambda: self.fleet._reach(member)),
            lambda answer: self._reached(member, answer),
            urgent=True,
            counted=False,
        )

    def _reached(self, member: Member, answer: Any) -> list[pool.Task]:
        self.reaching.discard(member.account)
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
        self.open[target.key] += 1
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
        self.open[target.key] -= 1
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
        self.open[target.key] += 1
        hardener = target.hardener
        assert hardener is not None
        controls = self.controls
        return pool.Task(
            target.key, lambda: hardener.read(name, controls), lambda s: self._got(target, s)
        )

    def _got(self, target: Target, state: TableState) -> list[pool.Task]:
        self.open[target.key] -= 1
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
        # A one-account run reaches its own account only (None here: the replica's ARN names
        # no other); a fleet reaches its members.
        reached = account is None if fleet.scope.single else member is not None
        selected = replica.region in fleet.regions and reached
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
        if not reached:  # no call is made for it: its credentials are not the run's
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

    def interrupted(self) -> None:
        """After a Ctrl-C: each target with a page or read still unanswered, and each account
        not yet reached, is read only in part, never `ok`."""
        fleet = self.fleet
        for key, unanswered in self.open.items():
            target = fleet.targets.get(key)
            if unanswered and target is not None and target.status == "ok":
                target.interrupt()
        for account in sorted(self.reaching, key=lambda a: a or ""):
            target = Target(account, ALL_ACCOUNT_REGIONS, None)
            target.interrupt()
            fleet.targets[target.key] = target

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


__all__ = ["Reading"]
