"""The report's findings: one per selected table and required control, for every findings format
and for the Security Hub import. Excluded tables were never read, so they have none."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from remediation import findings
from remediation.cli.report import HubImport, HubRejection, Report, TableResult

if TYPE_CHECKING:
    from remediation.aws import Rejected, SecurityHub


def of_report(report: Report) -> list[findings.Finding]:
    """Every table's verdict on every control the run required, in the report's table order."""
    return [verdict for _, verdict in by_table(report)]


def by_table(report: Report) -> list[tuple[TableResult, findings.Finding]]:
    """Each finding with the table it is about."""
    at = report.at or datetime.now(UTC)
    account = _known_account(report)
    result: list[tuple[TableResult, findings.Finding]] = []
    for table in report.tables:
        errors = table.error_map
        for control in report.requirement.controls:
            verdict = findings.finding(
                account=table.account or account.get(table.region),
                region=table.region,
                before=table.before,
                after=table.after,
                control=control,
                changed=control in table.changed,
                error=errors.get(control.id) or errors.get("table"),
                observed_at=at,
                requirement=report.requirement,
            )
            result.append((table, verdict))
    return result


def _known_account(report: Report) -> dict[str | None, str]:
    """Today's one-target run does not ask who it is: a table's ARN tells, for its region."""
    known: dict[str | None, str] = {}
    for table in report.tables:
        if table.account:
            known.setdefault(table.region, table.account)
    return known


# -- --security-hub: the findings into Security Hub CSPM, with the history it holds ----------------

HubFor = Callable[[tuple[str | None, str]], "SecurityHub"]
"""The Security Hub CSPM of one (account, region), with the credentials that reach its tables."""

IMPORT_WORKERS = 8
"""Account-regions imported at once; each paces its own quotas."""


@dataclass
class _Group:
    """One account-region's share of the run: its findings, and the findings to archive."""

    pairs: list[tuple[TableResult, findings.Finding]] = field(default_factory=list)
    gone_ids: list[str] = field(default_factory=list)
    """Findings of excluded tables: archived if Security Hub CSPM holds them ACTIVE."""
    account: str | None = None
    sweep: bool = False
    """Look for findings of tables that no longer exist (a full read by prefix)."""


def send_to_security_hub(report: Report, hub_for: HubFor) -> list[HubImport]:
    """Each account-region's findings into its own Security Hub CSPM, keeping their history
    (GetFindings): CreatedAt and FirstObservedAt stay, a finding that turns PASSED is RESOLVED,
    and the findings of a table that is gone or now excluded are archived."""
    groups = _groups(report)
    ordered = sorted(groups.items(), key=lambda item: (item[0][0] or "", item[0][1]))
    # Clients are made here, one by one: a boto3 session is not safe to share while it makes them.
    hubs = [(key, hub_for(key), group) for key, group in ordered if group.account is not None]
    with ThreadPoolExecutor(max_workers=max(1, min(IMPORT_WORKERS, len(hubs)))) as pool:
        sent = list(pool.map(lambda item: _send(report, *item), hubs))
    return [hub for hub in sent if hub is not None]


def _groups(report: Report) -> dict[tuple[str | None, str], _Group]:
    groups: dict[tuple[str | None, str], _Group] = {}
    for table, verdict in by_table(report):
        if verdict.importable and table.region is not None:
            group = groups.setdefault((table.key[0], table.region), _Group())
            group.pairs.append((table, verdict))
            group.account = verdict.account
    known = _known_account(report)
    for account, region, name in report.excluded:
        if region is None:
            continue
        group = groups.setdefault((account, region), _Group())
        group.account = group.account or account or known.get(region)
        for control in report.requirement.controls:
            group.gone_ids.append(f"{_arn(group.account, region, name)}/{control.id}")
    # Only a run that looked for every table by prefix, and read all of them, knows which are gone.
    complete = not (report.named or report.interrupted or report.cancelled or report.error)
    for target in report.targets:
        if complete and target.status == "ok" and not target.for_replicas:
            group = groups.setdefault((target.account, target.region), _Group())
            group.account = group.account or target.account or known.get(target.region)
            group.sweep = True
    for group in groups.values():
        if group.account is None:
            group.gone_ids.clear()
    return groups


def _arn(account: str | None, region: str, name: str) -> str:
    return f"arn:{findings.partition_of(region)}:dynamodb:{region}:{account}:table/{name}"


def _send(
    report: Report, key: tuple[str | None, str], hub: SecurityHub, group: _Group
) -> HubImport | None:
    """What one account-region's Security Hub CSPM did; None for a region with no table of the
    run's where there was nothing to archive (or no Security Hub CSPM to look in)."""
    account, region = group.account or "", key[1]
    quiet = not group.pairs and not group.gone_ids
    verdicts = [verdict for _, verdict in group.pairs]
    ids = [v.id for v in verdicts]
    history = hub.read([*ids, *group.gone_ids])
    if history.error is None and group.sweep:
        product = findings.product_arn(findings.partition_of(region), region, account)
        swept = hub.active(product, _arn(account, region, report.prefix), GENERATOR)
        history = replace(swept, found={**swept.found, **history.found})
    if history.error is not None and quiet and history.not_enabled:
        return None
    if history.error is not None:
        return HubImport(
            account, region, len(verdicts), error=history.error, not_enabled=history.not_enabled
        )
    seen = {i: findings.Seen.of(stored) for i, stored in history.found.items()}
    archive = _to_archive(report, history.found, set(ids), key)
    if quiet and not archive:
        return None
    at = findings.iso(report.at or datetime.now(UTC))
    documents = [findings.asff(v, seen.get(v.id)) for v in verdicts]
    documents += [{**stored, "RecordState": "ARCHIVED", "UpdatedAt": at} for stored in archive]
    answer = hub.import_findings(documents)
    if answer.not_enabled:
        return HubImport(account, region, len(verdicts), not_enabled=True)
    names = _Names(group.pairs)
    resolve = [
        findings.identifier(v)
        for v in verdicts
        if findings.to_resolve(v, seen.get(v.id)) and v.id in answer.landed
    ]
    update = hub.set_workflow(resolve) if resolve else None
    archived = sum(str(stored["Id"]) in answer.landed for stored in archive)
    return HubImport(
        account=account,
        region=region,
        sent=len(verdicts),
        imported=answer.imported - archived,
        rejected=names(answer.rejected),
        error=answer.error,
        to_resolve=len(resolve),
        resolved=update.processed if update else 0,
        unresolved=names(update.unprocessed) if update else (),
        resolve_error=update.error if update else None,
        archived=archived,
    )


GENERATOR = f"{findings.GENERATOR_PREFIX}/"
"""What the CLI's own findings' GeneratorId starts with (the guard's are its own history)."""


def _to_archive(
    report: Report,
    stored: Mapping[str, Mapping[str, Any]],
    current: set[str],
    key: tuple[str | None, str],
) -> list[Mapping[str, Any]]:
    """The ACTIVE findings of required controls about tables this run did not judge: excluded,
    or (found by the sweep) no longer there."""
    controls = {c.id for c in report.requirement.controls}
    judged = {t.name for t in report.tables if (t.key[0], t.region) == key}
    chosen: list[Mapping[str, Any]] = []
    for finding_id, finding in stored.items():
        table, _, control = finding_id.rpartition("/")
        name = table.rpartition("table/")[2]
        if finding_id in current or control not in controls or name in judged:
            continue
        if finding.get("RecordState") != "ACTIVE" or not name.startswith(report.prefix):
            continue
        chosen.append(finding)
    return chosen


class _Names:
    """Security Hub's refusals named by table and control."""

    def __init__(self, pairs: Sequence[tuple[TableResult, findings.Finding]]) -> None:
        self._by_id = {verdict.id: (table, verdict) for table, verdict in pairs}

    def __call__(self, refused: Iterable[Rejected]) -> tuple[HubRejection, ...]:
        return tuple(
            HubRejection(
                self._by_id[r.id][0].name if r.id in self._by_id else r.id,
                self._by_id[r.id][1].control.id if r.id in self._by_id else "",
                r.code,
                r.message,
            )
            for r in refused
        )


__all__ = ["HubFor", "by_table", "of_report", "send_to_security_hub"]
