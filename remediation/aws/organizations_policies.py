"""The organization's Resource Control Policies, through the same door as every call: read the
root and the guardrail's policy (found by name), enable the RCP type on the root, create or
update the policy, attach it; and whether the management account, which no RCP covers, holds
tables under the prefix."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from remediation.aws.errors import CallFailed, _Door
from remediation.aws.session import Settings, _client
from remediation.core import AwsError

if TYPE_CHECKING:
    from boto3.session import Session
else:
    Session = Any

RCP_TYPE = "RESOURCE_CONTROL_POLICY"
ENABLED = "ENABLED"

ORGANIZATIONS_RATES: Mapping[str, float] = {
    # Organizations throttles at a few requests a second for the whole organization: paced
    # evenly under it (a guardrail run makes a dozen calls).
    "*": 4.0,
}

READ_ACTIONS = (
    "organizations:DescribeOrganization",
    "organizations:ListRoots",
    "organizations:ListPolicies",
    "organizations:DescribePolicy",
    "organizations:ListTargetsForPolicy",
)
WRITE_ACTIONS = (
    "organizations:EnablePolicyType",
    "organizations:CreatePolicy",
    "organizations:UpdatePolicy",
    "organizations:AttachPolicy",
)
TABLES_ACTION = "dynamodb:ListTables"
"""Only where the caller is the management account: are there tables no RCP covers?"""
ROLE_ACTION = "iam:GetRole"
"""The hardener's own role ARN with its path (identity.hardener_role)."""

APPLY_ACTIONS = (ROLE_ACTION, *READ_ACTIONS, *WRITE_ACTIONS, TABLES_ACTION)
"""Every action `guardrail --rcp --apply` may call (docs/iam-guardrail-rcp.json lists exactly
these; sts:GetCallerIdentity needs no permission). Printing calls all but the writes."""

ENABLE_WAIT = 120.0
"""Seconds to wait for the root's RCP type to leave PENDING_ENABLE (AWS enables it
asynchronously; moto at once)."""
ENABLE_POLL = 3.0
NOT_ENABLED = "PolicyTypeNotEnabledException"


@dataclass(frozen=True)
class Organization:
    id: str
    management_account: str
    root_id: str
    rcp_listed: bool
    """Whether the root lists RESOURCE_CONTROL_POLICY among its policy types (ENABLED, or
    PENDING_ENABLE for a while after EnablePolicyType)."""


@dataclass(frozen=True)
class FoundPolicy:
    id: str
    content: str
    targets: tuple[str, ...]


class OrganizationPolicies:
    """The calls `guardrail --rcp` makes to AWS Organizations."""

    def __init__(
        self, session: Session, region: str | None, settings: Settings, cancel: threading.Event
    ) -> None:
        client = _client(session, "organizations", region or "us-east-1", settings)
        self._door = _Door(client, "organizations", ORGANIZATIONS_RATES, cancel)

    def organization(self) -> Organization:
        """The organization, its root and whether the root lists the RCP type. Raises
        CallFailed."""
        found = self._door.call("DescribeOrganization")["Organization"]
        roots = self._door.call("ListRoots")["Roots"]
        if len(roots) != 1:  # AWS has exactly one; anything else is no answer to act on
            raise _unexpected(
                "organizations:ListRoots", f"ListRoots answered {len(roots)} roots, expected one"
            )
        root = roots[0]
        # Listed means enabled or being enabled (PENDING_ENABLE): attach() waits out the latter.
        listed = any(t["Type"] == RCP_TYPE for t in root.get("PolicyTypes", []))
        return Organization(found["Id"], found["MasterAccountId"], root["Id"], listed)

    def find(self, name: str) -> FoundPolicy | None:
        """The customer-managed RCP called `name`, its content and targets. Raises CallFailed."""
        params: dict[str, Any] = {"Filter": RCP_TYPE}
        while True:
            page = self._door.call("ListPolicies", **params)
            for summary in page.get("Policies", []):
                if summary["Name"] == name and not summary.get("AwsManaged"):
                    return self._described(summary["Id"])
            if not page.get("NextToken"):
                return None
            params["NextToken"] = page["NextToken"]

    def _described(self, policy_id: str) -> FoundPolicy:
        content: str = self._door.call("DescribePolicy", PolicyId=policy_id)["Policy"]["Content"]
        targets: list[str] = []
        params: dict[str, Any] = {"PolicyId": policy_id}
        while True:
            page = self._door.call("ListTargetsForPolicy", **params)
            targets += [target["TargetId"] for target in page.get("Targets", [])]
            if not page.get("NextToken"):
                return FoundPolicy(policy_id, content, tuple(targets))
            params["NextToken"] = page["NextToken"]

    def enable_rcp(self, root_id: str) -> None:
        """Enable the RCP type on the root (AWS finishes it asynchronously: see attach).
        Raises CallFailed."""
        self._door.call("EnablePolicyType", RootId=root_id, PolicyType=RCP_TYPE)

    def create(self, name: str, description: str, content: str) -> str:
        """Create the RCP; its id. Raises CallFailed."""
        answer = self._door.call(
            "CreatePolicy", Name=name, Description=description, Type=RCP_TYPE, Content=content
        )
        policy_id: str = answer["Policy"]["PolicySummary"]["Id"]
        return policy_id

    def update(self, policy_id: str, content: str) -> None:
        self._door.call("UpdatePolicy", PolicyId=policy_id, Content=content)

    def attach(self, policy_id: str, target_id: str, wait: float = ENABLE_WAIT) -> None:
        """Attach the policy. While the root's RCP type is still PENDING_ENABLE, AWS answers
        PolicyTypeNotEnabledException: tried again every few seconds for up to `wait` seconds.
        Raises CallFailed."""
        deadline = time.monotonic() + wait
        while True:
            try:
                self._door.call("AttachPolicy", PolicyId=policy_id, TargetId=target_id)
                return
            except CallFailed as exc:
                if exc.error.code != NOT_ENABLED or time.monotonic() > deadline:
                    raise
            self._door.sleep(ENABLE_POLL)


def _unexpected(action: str, message: str) -> CallFailed:
    return CallFailed(AwsError(action, "UnexpectedAnswer", message))


def prefixed_tables(
    session: Session,
    region: str,
    settings: Settings,
    cancel: threading.Event,
    prefix: str,
    enough: int = 5,
) -> list[str]:
    """Up to `enough` table names under `prefix` in the caller's account and `region`
    (dynamodb:ListTables, every page until that many are found). Raises CallFailed."""
    door = _Door(_client(session, "dynamodb", region, settings), "dynamodb", {}, cancel)
    names: list[str] = []
    params: dict[str, Any] = {}
    while True:
        page = door.call("ListTables", **params)
        names += [n for n in page.get("TableNames", []) if n.startswith(prefix)]
        if len(names) >= enough or not page.get("LastEvaluatedTableName"):
            return names[:enough]
        params["ExclusiveStartTableName"] = page["LastEvaluatedTableName"]
