"""IAM decisions from a real evaluator: @cloud-copilot/iam-simulate and iam-policy (npm).

`simulate(requests)` runs tests/node/simulate.mjs once for the whole batch (Node's start-up is paid
once) and returns one `Decision` per `Request`, in order. The library evaluates identity policies,
the resource policy, SCPs and RCPs the way IAM does; it does not fill the global context keys from
the request, so `Request.context` gets aws:PrincipalArn, aws:PrincipalAccount and
aws:PrincipalIsAWSService from the principal unless the caller sets them (an assumed-role caller
should set aws:PrincipalArn to its role's ARN, path included, as IAM does).

`validate(policy, kind)` lists what @cloud-copilot/iam-policy finds wrong with a policy document
("path: message" lines; empty when valid). Versions are pinned in tests/node/package.json.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from tests.evaluator_tools import TESTS
from tests.evaluator_tools import require as _require

NODE_DIR = TESTS / "node"
SCRIPT = NODE_DIR / "simulate.mjs"
PACKAGES = ("@cloud-copilot/iam-simulate", "@cloud-copilot/iam-policy")

Policy = Mapping[str, Any]
PolicyKind = Literal["identity", "resource", "scp", "rcp", "trust"]
DecisionName = Literal["Allowed", "ImplicitlyDenied", "ExplicitlyDenied"]


class SimulationError(RuntimeError):
    """The simulator refused a request (an invalid policy, action or ARN) or did not run."""


def missing() -> str:
    """Why the simulator cannot run here, or "" when it can."""
    if shutil.which("node") is None:
        return "the IAM simulator needs `node` on PATH"
    absent = [name for name in PACKAGES if not (NODE_DIR / "node_modules" / name).is_dir()]
    if absent:
        return f"the IAM simulator needs {', '.join(absent)} in tests/node/node_modules"
    return ""


def require() -> None:
    _require(missing())


@dataclass(frozen=True)
class Request:
    """One call to authorize: who, what, on which resource, under which policies.

    scps and rcps are the organization's levels from the root down to the account, each a tuple
    of the policies attached there; empty means the account is in no organization. The library
    adds RCPFullAWSAccess at every RCP level itself; SCP levels need FullAWSAccess given.
    The library gives the account root no implicit rights: model root with an allow-all identity
    policy, as IAM treats it. Context keys the action cannot carry come back in
    `Decision.ignored_context_keys` (global keys such as aws:PrincipalArn always apply).
    """

    principal: str
    action: str
    resource: str
    identity_policies: tuple[Policy, ...] = ()
    resource_policy: Policy | None = None
    scps: tuple[tuple[Policy, ...], ...] = ()
    rcps: tuple[tuple[Policy, ...], ...] = ()
    context: Mapping[str, str | list[str]] = field(default_factory=dict)
    resource_account: str | None = None

    def payload(self) -> dict[str, Any]:
        return {
            "principal": self.principal,
            "action": self.action,
            "resource": self.resource,
            "resource_account": self.resource_account or _account(self.resource),
            "identity_policies": list(self.identity_policies),
            "resource_policy": self.resource_policy,
            "scps": [list(level) for level in self.scps],
            "rcps": [list(level) for level in self.rcps],
            "context": {**_principal_context(self.principal), **self.context},
        }


@dataclass(frozen=True)
class Decision:
    """The library's overall result and the statements it names as decisive."""

    decision: DecisionName
    denials: tuple[Mapping[str, Any], ...]
    grants: tuple[Mapping[str, Any], ...]
    ignored_context_keys: tuple[str, ...]

    @property
    def allowed(self) -> bool:
        return self.decision == "Allowed"

    @property
    def deciding(self) -> tuple[str, ...]:
        """'<policy type> <Sid or #index>' per deciding statement, e.g. 'rcp DenyDelete'."""
        return tuple(
            f"{reason['policyType']} "
            + (reason.get("statementId") or f"#{reason.get('statementIndex', '?')}")
            for reason in (*self.denials, *self.grants)
            if "statementIndex" in reason
        )


def simulate(requests: Sequence[Request]) -> list[Decision]:
    """One decision per request, from one Node process; SimulationError if any is refused."""
    answer = _run({"simulate": [request.payload() for request in requests]})
    decisions = []
    for request, result in zip(requests, answer["simulate"], strict=True):
        if "error" in result:
            raise SimulationError(
                f"{request.action} by {request.principal} on {request.resource}: "
                f"{result['error']} {json.dumps(result.get('details', {}))}"
            )
        decisions.append(
            Decision(
                decision=result["decision"],
                denials=tuple(result["denials"]),
                grants=tuple(result["grants"]),
                ignored_context_keys=tuple(result["ignored_context_keys"]),
            )
        )
    return decisions


def decide(request: Request) -> Decision:
    return simulate([request])[0]


def validate_many(policies: Sequence[tuple[Policy, PolicyKind]]) -> list[list[str]]:
    """For each (policy, kind), what iam-policy finds wrong with it, from one Node process."""
    answer = _run({"validate": [{"kind": kind, "policy": policy} for policy, kind in policies]})
    return [list(errors) for errors in answer["validate"]]


def validate(policy: Policy, kind: PolicyKind = "identity") -> list[str]:
    return validate_many([(policy, kind)])[0]


def _run(batch: Mapping[str, Any]) -> Any:
    why_not = missing()
    if why_not:
        raise SimulationError(why_not)
    done = subprocess.run(
        ["node", str(SCRIPT)],
        input=json.dumps(batch),
        capture_output=True,
        text=True,
        cwd=NODE_DIR,
        timeout=300,
        check=False,
    )
    if done.returncode != 0:
        raise SimulationError(f"simulate.mjs exited {done.returncode}: {done.stderr.strip()}")
    return json.loads(done.stdout)


def _account(arn: str) -> str:
    parts = arn.split(":")
    return parts[4] if len(parts) > 4 else ""


def _principal_context(principal: str) -> dict[str, str]:
    if principal.endswith(".amazonaws.com"):
        return {"aws:PrincipalIsAWSService": "true"}
    return {
        "aws:PrincipalArn": principal,
        "aws:PrincipalAccount": _account(principal),
        "aws:PrincipalIsAWSService": "false",
    }
