"""The `guardrail --rcp` run once its flags are good: who the caller is (the hardener's role,
allowed), the organization and the policy as they are, the plan, the prompt, the changes and
their read-back. Printing the policy needs only the first and a look at the management account.
"""

from __future__ import annotations

import json
import threading
from typing import TYPE_CHECKING, Any

from remediation import aws, guardrail
from remediation.aws.errors import CallFailed, Cancelled
from remediation.aws.identity import HardenerRole, Identity, hardener_role
from remediation.aws.organizations_policies import (
    Organization,
    OrganizationPolicies,
    prefixed_tables,
)
from remediation.cli.guardrail_args import principals_from
from remediation.cli.guardrail_rcp import DESCRIPTION, RcpOptions, parsed, plan, summary
from remediation.cli.progress import isatty
from remediation.cli.status import ExitStatus
from remediation.guardrail import GuardrailError, Mode

if TYPE_CHECKING:
    from boto3.session import Session

    from remediation.cli.guardrail_rcp import _Streams

NOT_IN_USE = "AWSOrganizationsNotInUseException"


class _Stop(Exception):
    """The run ends here: one error line and this status."""

    def __init__(self, status: ExitStatus, message: str) -> None:
        super().__init__(message)
        self.status = status


def execute(options: RcpOptions, streams: _Streams, cancel: threading.Event) -> ExitStatus:
    try:
        return _execute(options, streams, cancel)
    except _Stop as stop:
        print(f"error: {_one_line(str(stop))}", file=streams.stderr)
        return stop.status
    except aws.SetupError as exc:  # a client that cannot be made (region, endpoint, credentials)
        print(f"error: {_one_line(str(exc))}", file=streams.stderr)
        return ExitStatus.AWS_SETUP
    except Cancelled:
        return ExitStatus.INTERRUPTED
    except KeyboardInterrupt:
        cancel.set()
        print("Interrupted: no new call was started.", file=streams.stderr)
        return ExitStatus.INTERRUPTED


def _execute(options: RcpOptions, streams: _Streams, cancel: threading.Event) -> ExitStatus:
    settings = aws.Settings(
        profile=options.profile,
        region=options.regions[0] if options.regions else None,
        endpoint_url=options.endpoint_url,
    )
    session = aws.make_session(settings)
    region = options.regions[0] if options.regions else aws.session_region(session)
    identity = Identity(session, region, settings, cancel)
    # read: who the caller is, the organization, the policy as it is
    hardener = _hardener(identity, options)
    try:
        principals = principals_from(options.args, options.partition, hardener.arn)
        document = guardrail.rcp(options.selection, principals, options.mode, options.partition)
    except GuardrailError as exc:  # the hardener's ARN made it too long, or is not a role's
        raise _Stop(ExitStatus.USAGE, str(exc)) from None
    policies = OrganizationPolicies(session, region, settings, cancel)
    organization, unread = _organization(policies, required=options.apply)
    for line in summary(options, principals, document):
        streams.say(line)
    streams.say(f"the hardener: {hardener.source}")
    if options.mode is Mode.STRICT and not options.args.allow_role:
        # harden turns deletion protection on with UpdateTable, denied here in strict mode.
        streams.say(
            "the role harden assumes in member accounts (--role-name) must be allowed too: "
            "name it with --allow-role (e.g. arn:aws:iam::*:role/SentinelHarden)"
        )
    if organization is None:
        streams.say(
            "management account: could not tell whether it holds tables under "
            f"{options.selection.prefix!r} ({unread})"
        )
    else:
        _warn_management(
            options, streams, session, region, settings, identity, organization, cancel
        )
    print(json.dumps(document, indent=2), file=streams.stdout)
    if not options.apply:
        return ExitStatus.OK
    assert organization is not None
    return _apply(options, streams, policies, organization, document)


def _hardener(identity: Identity, options: RcpOptions) -> HardenerRole:
    named = [*options.args.allow_role, *options.args.break_glass_role]
    try:
        return hardener_role(identity, named)
    except CallFailed as exc:
        raise _Stop(
            ExitStatus.AWS_SETUP,
            f"cannot learn the caller's role with its path ({exc}); name it with --allow-role ARN",
        ) from None


def _organization(
    policies: OrganizationPolicies, required: bool
) -> tuple[Organization | None, str]:
    """The organization, or (without --apply) None and why it could not be read."""
    try:
        return policies.organization(), ""
    except CallFailed as exc:
        why = (
            "the caller's account is in no AWS Organization: an RCP needs one"
            if exc.error.code == NOT_IN_USE
            else f"cannot read the organization: {exc}"
        )
        if required:
            raise _Stop(ExitStatus.AWS_SETUP, why) from None
        return None, why


def _warn_management(
    options: RcpOptions,
    streams: _Streams,
    session: Session,
    region: str | None,
    settings: aws.Settings,
    identity: Identity,
    organization: Organization,
    cancel: threading.Event,
) -> None:
    """Say whether the management account, which no RCP covers, holds tables under the prefix:
    found, none, or could not tell (and why)."""
    prefix = options.selection.prefix
    management = organization.management_account
    try:
        caller = identity.caller_account()
    except CallFailed as exc:
        streams.say(f"management account {management}: could not tell ({exc})")
        return
    if caller != management:
        streams.say(
            f"management account {management}: could not tell whether it holds tables under "
            f"{prefix!r} from account {caller}; no RCP covers it: guard its tables with "
            "harden --guardrail"
        )
        return
    regions = list(options.regions) or [region or "us-east-1"]
    for where in regions:
        try:
            names = prefixed_tables(session, where, settings, cancel, prefix)
        except CallFailed as exc:
            streams.say(f"management account {management} in {where}: could not tell ({exc})")
            continue
        if names:
            print(
                f"warning: the management account {management} holds tables under {prefix!r} "
                f"in {where} ({', '.join(names)}): an RCP has no effect there; guard them with "
                "harden --guardrail (the table-policy form)",
                file=streams.stderr,
            )
        else:
            streams.say(f"management account {management} in {where}: no table under {prefix!r}")


def _apply(
    options: RcpOptions,
    streams: _Streams,
    policies: OrganizationPolicies,
    organization: Organization,
    document: dict[str, Any],
) -> ExitStatus:
    target = options.target_id or organization.root_id
    if target == organization.management_account:
        raise _Stop(
            ExitStatus.USAGE,
            f"--target-id {target} is the management account, where an RCP has no effect",
        )
    name = options.policy_name
    found = _read(lambda: policies.find(name))
    wanted = plan(organization, found, document, target)
    steps = wanted.steps(name)
    if not steps:
        streams.say(f"the RCP {name!r} is already in place and attached to {target}: no change")
        return ExitStatus.OK
    streams.say(("would " if options.dry_run else "to do: ") + "; ".join(steps))
    if options.dry_run:
        return ExitStatus.OK
    if not options.force and not _confirm(streams, len(steps)):
        return ExitStatus.CANCELLED
    content = guardrail.dumps(document)
    try:
        if wanted.enable_on:
            policies.enable_rcp(wanted.enable_on)
        policy_id = found.id if found is not None else None
        if wanted.create:
            description = DESCRIPTION.format(prefix=options.selection.prefix)
            policy_id = policies.create(name, description, content)
        elif wanted.update:
            policies.update(wanted.update, content)
        assert policy_id is not None
        if wanted.attach_to:
            policies.attach(policy_id, wanted.attach_to)
    except CallFailed as exc:
        print(f"error: {_one_line(str(exc))}", file=streams.stderr)
        return ExitStatus.FAILED
    return _read_back(streams, policies, name, document, target)


def _read_back(
    streams: _Streams,
    policies: OrganizationPolicies,
    name: str,
    document: dict[str, Any],
    target: str,
) -> ExitStatus:
    """The outcome is what AWS answers afterwards, not what was sent."""
    try:
        found = policies.find(name)
    except CallFailed as exc:
        print(f"error: applied, but cannot read it back: {exc}", file=streams.stderr)
        return ExitStatus.FAILED
    if found is None or parsed(found.content) != document or target not in found.targets:
        print(
            f"error: the RCP {name!r} does not read back as applied and attached to {target}",
            file=streams.stderr,
        )
        return ExitStatus.FAILED
    streams.say(f"applied: the RCP {name!r} ({found.id}) is attached to {target}")
    return ExitStatus.OK


def _read(call: Any) -> Any:
    try:
        return call()
    except CallFailed as exc:
        raise _Stop(ExitStatus.AWS_SETUP, f"cannot read the organization's RCPs: {exc}") from None


def _confirm(streams: _Streams, steps: int) -> bool:
    """As harden asks: on the person's terminal, never without one."""
    if not isatty(streams.stdin):
        print(
            "Cancelled: no terminal to confirm on; pass --force to apply without a prompt.",
            file=streams.stderr,
        )
        return False
    prompt_to = streams.stdout if isatty(streams.stdout) else streams.stderr
    print(
        f"Apply {steps} change(s) to the organization? [y/N] ", end="", file=prompt_to, flush=True
    )
    answer = streams.stdin.readline()
    if answer.strip().lower() in ("y", "yes"):
        return True
    print("Cancelled: nothing was changed.", file=streams.stderr)
    return False


def _one_line(message: str, limit: int = 600) -> str:
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
