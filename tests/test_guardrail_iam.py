"""Proof with a real evaluator (issue 19, item 6): every policy the guardrail generates, in both
forms and both modes, judged by @cloud-copilot/iam-simulate and validated by
@cloud-copilot/iam-policy (tests/iam_simulator.py), never by our own reading of it.

The decision table: eight principals x ten actions x three tables x two modes x two forms. Each
cell's expected decision is written here from AWS's documented rules, independently of the code
under test; the policies are the ones `remediation.guardrail` builds (the table policy merged into
a table policy that already grants another account access, as `harden --guardrail` merges it).

Where iam-simulate's model differs from AWS's documented rules, the cell says so in its id and
asserts what the simulator answers (KNOWN_DIFFERENCES): if the library changes, the test tells.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from remediation import core, guardrail
from remediation.guardrail import Form, Mode, Principals
from tests import iam_simulator
from tests.cli_process import ROOT
from tests.iam_simulator import Decision, Request

ACCOUNT, OTHER = "111111111111", "222222222222"
PREFIX = "sentinel-"


def table(name: str) -> str:
    return f"arn:aws:dynamodb:eu-west-1:{ACCOUNT}:table/{name}"


ALLOW_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
DYNAMODB_ALL = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "dynamodb:*", "Resource": "*"}],
}
HARDENER_ROLE = (
    f"arn:aws:iam::{ACCOUNT}:role/aws-reserved/sso.amazonaws.com/eu-west-1/"
    "AWSReservedSSO_SentinelHardener_0123456789abcdef"
)


@dataclass(frozen=True)
class Who:
    label: str
    principal: str
    identity: dict[str, Any]
    principal_arn: str | None = None
    """aws:PrincipalArn when the caller is a role session (the role's ARN, path included)."""


WHO = {
    "admin": Who(
        "an admin with AdministratorAccess", f"arn:aws:iam::{ACCOUNT}:role/Admin", ALLOW_ALL
    ),
    "root": Who("the account root", f"arn:aws:iam::{ACCOUNT}:root", ALLOW_ALL),
    "break-glass": Who(
        "the break-glass role", f"arn:aws:iam::{ACCOUNT}:role/ops/sentinel-break-glass", ALLOW_ALL
    ),
    "deploy": Who("the deploy role", f"arn:aws:iam::{ACCOUNT}:role/pulumi-deploy", ALLOW_ALL),
    "hardener": Who(
        "the hardener (an SSO role session)",
        f"arn:aws:sts::{ACCOUNT}:assumed-role/AWSReservedSSO_SentinelHardener_0123456789abcdef/"
        "alice@example.com",
        ALLOW_ALL,
        principal_arn=HARDENER_ROLE,
    ),
    "guard": Who("the guard", f"arn:aws:iam::{ACCOUNT}:role/sentinel-guard", DYNAMODB_ALL),
    "replication": Who(
        "the replication service-linked role",
        f"arn:aws:iam::{ACCOUNT}:role/aws-service-role/replication.dynamodb.amazonaws.com/"
        "AWSServiceRoleForDynamoDBReplication",
        DYNAMODB_ALL,
    ),
    "foreign-admin": Who(
        "another account's admin (granted in the table policy)",
        f"arn:aws:iam::{OTHER}:role/Admin",
        ALLOW_ALL,
    ),
}

PRINCIPALS = Principals(
    break_glass=("arn:aws:iam::*:role/ops/sentinel-break-glass",),
    allow=("arn:aws:iam::*:role/pulumi-deploy",),
    hardener=HARDENER_ROLE,
    guard=f"arn:aws:iam::{ACCOUNT}:role/sentinel-guard",
)
ALLOWED = {"break-glass", "deploy", "hardener", "guard"}

DENIED = {
    # Written out from issue 19, item 1, not taken from the code under test.
    (Form.TABLE, Mode.STRICT): {
        "DeleteTable",
        "UpdateContinuousBackups",
        "UpdateTable",
        "PutResourcePolicy",
        "DeleteResourcePolicy",
    },
    (Form.TABLE, Mode.LENIENT): {
        "DeleteTable",
        "UpdateContinuousBackups",
        "PutResourcePolicy",
        "DeleteResourcePolicy",
    },
    (Form.RCP, Mode.STRICT): {"DeleteTable", "UpdateContinuousBackups", "UpdateTable"},
    (Form.RCP, Mode.LENIENT): {"DeleteTable", "UpdateContinuousBackups"},
}
ACTIONS = (
    *sorted(DENIED[(Form.TABLE, Mode.STRICT)]),
    "GetItem",
    "PutItem",
    "Query",
    "DescribeTable",
    "DescribeContinuousBackups",
)

TABLES = {
    # label -> (table name per form): the table form excludes a name under the prefix; an RCP
    # refuses that, so its excluded table matches a non-overlapping exclusion.
    "a Sentinel table": {Form.TABLE: "sentinel-sessions", Form.RCP: "sentinel-sessions"},
    "an excluded table": {Form.TABLE: "sentinel-scratch-1", Form.RCP: "legacy-sessions"},
    "a non-Sentinel table": {Form.TABLE: "orders", Form.RCP: "orders"},
}
EXCLUDE = {Form.TABLE: ("sentinel-scratch-*",), Form.RCP: ("legacy-*",)}


def grant(arn: str) -> dict[str, Any]:
    """Every table's policy before the guardrail: another account may use the table."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "TeamB",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                "Action": "dynamodb:*",
                "Resource": arn,
            }
        ],
    }


def selected(form: Form, name: str) -> bool:
    return core.Selection(PREFIX, EXCLUDE[form]).matches(name)


def table_policy(form: Form, mode: Mode, name: str) -> dict[str, Any]:
    """The table's resource policy: in the table form, the guardrail merged into the grant on
    each selected table (as harden --guardrail puts it); otherwise the grant alone."""
    arn = table(name)
    if form is Form.TABLE and selected(form, name):
        wanted = guardrail.table_policy(arn, PRINCIPALS, mode)
        return guardrail.merge(json.dumps(grant(arn)), wanted).document
    return grant(arn)


def rcp(mode: Mode) -> dict[str, Any]:
    return guardrail.rcp(core.Selection(PREFIX, EXCLUDE[Form.RCP]), PRINCIPALS, mode)


@dataclass(frozen=True)
class Cell:
    form: Form
    mode: Mode
    who: str
    action: str
    where: str

    @property
    def name(self) -> str:
        return TABLES[self.where][self.form]

    def request(self) -> Request:
        person = WHO[self.who]
        context = {"aws:PrincipalArn": person.principal_arn} if person.principal_arn else {}
        rcps = ((rcp(self.mode),),) if self.form is Form.RCP else ()
        return Request(
            principal=person.principal,
            action=f"dynamodb:{self.action}",
            resource=table(self.name),
            identity_policies=(person.identity,),
            resource_policy=table_policy(self.form, self.mode, self.name),
            rcps=rcps,
            context=context,
        )


def expected(cell: Cell) -> str:
    """AWS's documented decision."""
    guarded = cell.where == "a Sentinel table"
    if not guarded or cell.action not in DENIED[(cell.form, cell.mode)]:
        return "Allowed"
    if cell.who in ALLOWED:
        return "Allowed"
    if cell.who == "replication":
        # Table form: the policy names it. RCP form: RCPs never apply to service-linked roles
        # (Organizations user guide, "Resources and entities not restricted by RCPs").
        return "Allowed"
    if cell.form is Form.TABLE and cell.who == "root" and cell.action == "DeleteResourcePolicy":
        # DynamoDB API reference, DeleteResourcePolicy: "the root principal in your AWS account
        # can perform DeleteResourcePolicy requests, even if your resource-based policy explicitly
        # denies the root principal's access".
        return "Allowed"
    return "ExplicitlyDenied"


def known_difference(cell: Cell) -> str | None:
    """What iam-simulate answers where its model differs from AWS's documented rules."""
    if (
        cell.form is Form.RCP
        and cell.who == "replication"
        and cell.where == "a Sentinel table"
        and cell.action in DENIED[(cell.form, cell.mode)]
    ):
        return "ExplicitlyDenied"  # it applies RCPs to service-linked roles
    if (
        cell.form is Form.TABLE
        and cell.who == "root"
        and cell.where == "a Sentinel table"
        and cell.action == "DeleteResourcePolicy"
    ):
        return "ExplicitlyDenied"  # it has no root exception for DeleteResourcePolicy
    return None


CELLS = [
    Cell(form, mode, who, action, where)
    for form in Form
    for mode in Mode
    for who in WHO
    for action in ACTIONS
    for where in TABLES
]


def cell_id(cell: Cell) -> str:
    form = "table policy" if cell.form is Form.TABLE else "RCP"
    verdict = "may" if expected(cell) == "Allowed" else "may not"
    text = (
        f"{form}, {cell.mode.value}: {WHO[cell.who].label} {verdict} {cell.action} on {cell.where}"
    )
    different = known_difference(cell)
    if different is not None:
        text += f" (iam-simulate says {different})"
    return text


@pytest.fixture(scope="module")
def decisions() -> Iterator[dict[Cell, Decision]]:
    """Every cell judged in one Node process."""
    iam_simulator.require()
    answers = iam_simulator.simulate([cell.request() for cell in CELLS])
    yield dict(zip(CELLS, answers, strict=True))


@pytest.mark.parametrize("cell", CELLS, ids=cell_id)
def test_the_guardrail_decides_as_aws_documents(
    cell: Cell, decisions: dict[Cell, Decision]
) -> None:
    decision = decisions[cell]
    want = known_difference(cell) or expected(cell)
    assert decision.decision == want, decision.deciding
    if want == "ExplicitlyDenied":
        form = "resource" if cell.form is Form.TABLE else "rcp"
        assert decision.deciding == (f"{form} {guardrail.SID}",)


def test_the_table_has_the_cells_the_issue_asks_for() -> None:
    assert len(CELLS) == 2 * 2 * 8 * 10 * 3
    # RCP: the replication role on 3 + 2 denied actions; table: root, DeleteResourcePolicy, x2 modes
    assert sum(known_difference(c) is not None for c in CELLS) == (3 + 2) + 2
    assert sum(expected(c) == "ExplicitlyDenied" for c in CELLS) > 0


# -- every generated policy validates --------------------------------------------------------------


def generated() -> list[tuple[str, dict[str, Any], iam_simulator.PolicyKind]]:
    found: list[tuple[str, dict[str, Any], iam_simulator.PolicyKind]] = []
    for mode in Mode:
        found.append((f"rcp-{mode.value}", rcp(mode), "rcp"))
        for names in TABLES.values():
            name = names[Form.TABLE]
            found.append(
                (f"table-{mode.value}-{name}", table_policy(Form.TABLE, mode, name), "resource")
            )
    iam_rcp = json.loads((ROOT / "docs" / "iam-guardrail-rcp.json").read_text())
    found.append(("docs/iam-guardrail-rcp.json", iam_rcp, "identity"))
    return found


def test_every_policy_we_generate_is_valid_for_its_kind() -> None:
    iam_simulator.require()
    policies = generated()
    problems = iam_simulator.validate_many([(policy, kind) for _, policy, kind in policies])
    assert {
        name: found for (name, _, _), found in zip(policies, problems, strict=True) if found
    } == {}


def test_the_validator_can_say_no_to_a_guardrail() -> None:
    """The check above can fail: an RCP must name Principal "*"."""
    iam_simulator.require()
    broken = rcp(Mode.STRICT)
    broken["Statement"][0]["Principal"] = {"AWS": WHO["admin"].principal}
    assert iam_simulator.validate(broken, "rcp") != []
