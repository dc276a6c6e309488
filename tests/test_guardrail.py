"""The guardrail's documents, pure: what is denied, to whom, in which form and mode."""

from __future__ import annotations

import json

import pytest

from remediation import guardrail
from remediation.core import Selection
from remediation.guardrail import GuardrailError, Mode, Principals

BREAK_GLASS = "arn:aws:iam::111111111111:role/BreakGlass"
DEPLOY = "arn:aws:iam::111111111111:role/ci/PulumiDeploy"
HARDENER = "arn:aws:iam::111111111111:role/aws-reserved/sso.amazonaws.com/Hardener"
TABLE = "arn:aws:dynamodb:us-east-1:111111111111:table/sentinel-requests"
PRINCIPALS = Principals(break_glass=(BREAK_GLASS,), allow=(DEPLOY,), hardener=HARDENER)


def test_strict_table_policy_denies_the_weakening_actions_and_guards_itself() -> None:
    (stmt,) = guardrail.table_policy(TABLE, PRINCIPALS)["Statement"]
    assert stmt["Effect"] == "Deny" and stmt["Principal"] == "*"
    assert stmt["Resource"] == TABLE
    assert stmt["Action"] == [
        "dynamodb:DeleteTable",
        "dynamodb:UpdateContinuousBackups",
        "dynamodb:UpdateTable",
        "dynamodb:PutResourcePolicy",
        "dynamodb:DeleteResourcePolicy",
    ]
    allowed = stmt["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    assert allowed[:3] == [BREAK_GLASS, DEPLOY, HARDENER]
    assert any(a.endswith("/AWSServiceRoleForDynamoDBReplication") for a in allowed)
    assert any(a.endswith("_DynamoDBTable") for a in allowed)
    assert stmt["Condition"]["BoolIfExists"] == {"aws:PrincipalIsAWSService": "false"}


def test_lenient_leaves_update_table_out() -> None:
    (stmt,) = guardrail.table_policy(TABLE, PRINCIPALS, Mode.LENIENT)["Statement"]
    assert "dynamodb:UpdateTable" not in stmt["Action"]
    assert "dynamodb:DeleteTable" in stmt["Action"]
    assert "UpdateTable" in guardrail.LENIENT_LEAVES_OPEN


def test_rcp_covers_the_prefix_everywhere_and_names_no_service_linked_role() -> None:
    doc = guardrail.rcp(Selection("sentinel-"), PRINCIPALS)
    (stmt,) = doc["Statement"]
    assert stmt["Resource"] == "arn:aws:dynamodb:*:*:table/sentinel-*"
    assert "dynamodb:PutResourcePolicy" not in stmt["Action"]
    assert all(
        "aws-service-role" not in a for a in stmt["Condition"]["ArnNotLike"]["aws:PrincipalArn"]
    )
    assert len(guardrail.dumps(doc)) <= guardrail.RCP_MAX_CHARS


def test_rcp_takes_the_partition() -> None:
    principals = Principals(break_glass=("arn:aws-cn:iam::111111111111:role/BG",))
    doc = guardrail.rcp(Selection(), principals, partition="aws-cn")
    assert doc["Statement"][0]["Resource"].startswith("arn:aws-cn:dynamodb:")


@pytest.mark.parametrize(
    "exclude",
    ["sentinel-scratch-*", "sentinel-tmp", "*-test", "s?ntinel-x", "sentinel-[ab]*", "[x]-other"],
)
def test_rcp_refuses_an_exclusion_it_cannot_honour(exclude: str) -> None:
    with pytest.raises(GuardrailError, match="exclude"):
        guardrail.rcp(Selection("sentinel-", (exclude,)), PRINCIPALS)


@pytest.mark.parametrize("exclude", ["other-*", "sentinel", "legacy?table"])
def test_rcp_accepts_an_exclusion_that_cannot_match_a_sentinel_table(exclude: str) -> None:
    doc = guardrail.rcp(Selection("sentinel-", (exclude,)), PRINCIPALS)
    assert doc["Statement"][0]["Resource"] == "arn:aws:dynamodb:*:*:table/sentinel-*"


def test_rcp_over_5120_characters_is_refused_and_fit_counts_down() -> None:
    few = guardrail.principals_that_fit(Selection(), PRINCIPALS, Mode.STRICT)
    assert few > 10
    many = Principals(
        break_glass=tuple(f"arn:aws:iam::111111111111:role/BreakGlass{i:03}" for i in range(few))
    )
    assert guardrail.principals_that_fit(Selection(), many, Mode.STRICT) < few
    too_many = Principals(
        break_glass=tuple(f"arn:aws:iam::111111111111:role/BreakGlass{i:03}" for i in range(200))
    )
    with pytest.raises(GuardrailError, match="5120"):
        guardrail.rcp(Selection(), too_many)


@pytest.mark.parametrize(
    ("arn", "why"),
    [
        ("BreakGlass", "not an IAM role ARN"),
        ("arn:aws:iam::111111111111:user/alice", "not an IAM role ARN"),
        ("arn:aws:sts::111111111111:assumed-role/BreakGlass/me", "not an IAM role ARN"),
        ("arn:aws-cn:iam::111111111111:role/BreakGlass", "partition"),
    ],
)
def test_a_bad_role_arn_is_refused(arn: str, why: str) -> None:
    with pytest.raises(GuardrailError, match=why):
        guardrail.table_policy(TABLE, Principals(break_glass=(arn,)))


def test_wildcard_role_arns_are_allowed() -> None:
    principals = Principals(break_glass=("arn:aws:iam::*:role/BreakGlass-?",))
    assert guardrail.table_policy(TABLE, principals)


def test_no_break_glass_role_is_refused() -> None:
    with pytest.raises(GuardrailError, match="break-glass"):
        guardrail.table_policy(TABLE, Principals(break_glass=(), allow=(DEPLOY,)))


OTHER = {
    "Sid": "AppReads",
    "Effect": "Allow",
    "Principal": {"AWS": "arn:aws:iam::222222222222:role/App"},
    "Action": "dynamodb:GetItem",
    "Resource": TABLE,
}


def test_merge_into_no_policy_writes_ours() -> None:
    wanted = guardrail.table_policy(TABLE, PRINCIPALS)
    merged = guardrail.merge(None, wanted)
    assert merged.changed and merged.document["Statement"] == wanted["Statement"]


def test_merge_keeps_every_statement_someone_else_wrote_and_replaces_ours_by_sid() -> None:
    old_ours = guardrail.table_policy(TABLE, Principals(break_glass=(BREAK_GLASS,)))["Statement"][0]
    existing = json.dumps({"Version": "2012-10-17", "Statement": [OTHER, old_ours]})
    wanted = guardrail.table_policy(TABLE, PRINCIPALS)
    merged = guardrail.merge(existing, wanted)
    assert merged.changed
    assert merged.document["Statement"] == [OTHER, wanted["Statement"][0]]


def test_an_equivalent_statement_under_another_sid_is_no_change() -> None:
    wanted = guardrail.table_policy(TABLE, PRINCIPALS)
    theirs = dict(wanted["Statement"][0], Sid="TheirOwnName")
    theirs["Action"] = list(reversed(theirs["Action"]))
    existing = json.dumps({"Version": "2012-10-17", "Statement": [OTHER, theirs]})
    merged = guardrail.merge(existing, wanted)
    assert not merged.changed
    assert guardrail.holds(existing, wanted)


def test_a_weaker_statement_is_not_equivalent() -> None:
    wanted = guardrail.table_policy(TABLE, PRINCIPALS)
    weaker = dict(wanted["Statement"][0])
    weaker["Action"] = ["dynamodb:DeleteTable"]
    assert not guardrail.holds(json.dumps({"Statement": [weaker]}), wanted)
    wider = json.loads(json.dumps(wanted["Statement"][0]))
    wider["Condition"]["ArnNotLike"]["aws:PrincipalArn"].append("arn:aws:iam::*:role/*")
    assert not guardrail.holds(json.dumps({"Statement": [wider]}), wanted)


def test_a_merge_over_20_kb_is_refused_before_writing() -> None:
    big = [dict(OTHER, Sid=f"S{i}", Resource=f"{TABLE}/index/{'x' * 200}{i}") for i in range(80)]
    existing = json.dumps({"Version": "2012-10-17", "Statement": big})
    with pytest.raises(GuardrailError, match="20480"):
        guardrail.merge(existing, guardrail.table_policy(TABLE, PRINCIPALS))


def test_a_policy_that_is_not_json_is_refused() -> None:
    with pytest.raises(GuardrailError, match="not JSON"):
        guardrail.merge("{nope", guardrail.table_policy(TABLE, PRINCIPALS))


def test_principals_are_listed_once_in_order() -> None:
    p = Principals(break_glass=(BREAK_GLASS, DEPLOY), allow=(DEPLOY,), guard=BREAK_GLASS)
    assert p.arns() == (BREAK_GLASS, DEPLOY)


@pytest.mark.parametrize(
    ("pattern", "arn", "expected"),
    [
        ("arn:aws:iam::*:role/BreakGlass", "arn:aws:iam::111111111111:role/BreakGlass", True),
        ("arn:aws:iam::*", "arn:aws:iam::111111111111:role/BreakGlass", False),
        ("arn:aws:iam::*:role/*", "arn:aws:sts::111111111111:assumed-role/X/y", False),
        ("arn:aws:iam::11111111111?:root", "arn:aws:iam::111111111111:root", True),
    ],
)
def test_an_allowed_pattern_matches_as_iams_arn_like_each_part_on_its_own(
    pattern: str, arn: str, expected: bool
) -> None:
    assert guardrail.covers(pattern, arn) is expected
