"""The contract with botocore's installed service models: every field of an AWS answer the code
reads exists there, and none read first is retired or deprecated (issue 13, item 14).

The fields are `remediation.aws.RESPONSE_FIELDS`, declared beside the code that reads them; an AST
pass over `remediation/aws/` (the only package that talks to boto3, checked below) holds the code
to that declaration: every response key it reads is declared, and a field declared only as a
fallback (Organizations' retired `Account.Status`) is read only after the field it stands in for.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import botocore.session
import pytest

from remediation import aws
from remediation.aws import ERROR_KEYS, RESPONSE_FIELDS, ResponseField

AWS_PACKAGE = Path(aws.__file__).resolve().parent
REMEDIATION = AWS_PACKAGE.parent
AWS_MODULES = sorted(AWS_PACKAGE.glob("*.py"))
RETIRED = re.compile(r"\b(retire[ds]?|retirement|deprecat\w*)\b", re.IGNORECASE)
RESPONSE_KEY = re.compile(r"[A-Z][A-Za-z0-9]*")
"""AWS's answers use PascalCase keys; Pulumi properties, CloudTrail events and our JSON do not."""

PRIMARY = [f for f in RESPONSE_FIELDS if f.fallback_for is None]
FALLBACKS = [f for f in RESPONSE_FIELDS if f.fallback_for is not None]


def field_id(field: ResponseField) -> str:
    return f"{field.service}:{field.operation}:{field.path}"


@cache
def model(service: str) -> dict[str, Any]:
    """The service's model as botocore loads it (its own loader and search path)."""
    loader = botocore.session.get_session().get_component("data_loader")
    document: dict[str, Any] = loader.load_service_model(service, "service-2")
    return document


@dataclass(frozen=True)
class Step:
    name: str
    member: dict[str, Any]
    """The member as the structure declares it (documentation, deprecated trait)."""
    shape: dict[str, Any]
    """The shape it points to (the list's element shape for `name[]`)."""


def resolve(field: ResponseField) -> list[Step]:
    """The path through the operation's output shape; AssertionError naming where it breaks."""
    document = model(field.service)
    operation = document["operations"].get(field.operation)
    assert operation is not None, f"{field.service} has no operation {field.operation}"
    assert "output" in operation, f"{field.service}:{field.operation} answers nothing"
    shapes = document["shapes"]
    shape = shapes[operation["output"]["shape"]]
    steps = []
    for segment in field.path.split("."):
        name = segment.removesuffix("[]")
        members = shape.get("members", {})
        assert name in members, (
            f"{field_id(field)}: {name!r} is not in {field.service}'s model here "
            f"(members: {', '.join(sorted(members))})"
        )
        member = members[name]
        shape = shapes[member["shape"]]
        if segment.endswith("[]"):
            assert shape["type"] == "list", f"{field_id(field)}: {name} is not a list"
            shape = shapes[shape["member"]["shape"]]
        steps.append(Step(name, member, shape))
    return steps


def retired(steps: list[Step]) -> str | None:
    """What the model says against reading this field, or None: a deprecated trait anywhere on
    the way, or the field's own documentation calling it retired or deprecated (a list's
    documentation may warn about one of its items' fields: that is the field's business)."""
    for step in steps:
        for what in (step.member, step.shape):
            if what.get("deprecated"):
                return f"{step.name} is marked deprecated: {what.get('deprecatedMessage', '')}"
    last = steps[-1]
    found = RETIRED.search(last.member.get("documentation", ""))
    if found:
        text = re.sub(r"<[^>]+>", "", last.member["documentation"])
        return f"{last.name}'s documentation says {found.group(0)!r}: {text[:240]}"
    return None


# -- the declaration against the model -----------------------------------------------------------


@pytest.mark.parametrize("field", RESPONSE_FIELDS, ids=field_id)
def test_every_field_the_code_reads_is_in_the_installed_model(field: ResponseField) -> None:
    resolve(field)


@pytest.mark.parametrize("field", PRIMARY, ids=field_id)
def test_no_field_read_first_is_retired_or_deprecated(field: ResponseField) -> None:
    assert retired(resolve(field)) is None


@pytest.mark.parametrize("field", FALLBACKS, ids=field_id)
def test_a_fallback_stands_in_for_a_current_field_beside_it(field: ResponseField) -> None:
    parent, _, _ = field.path.rpartition(".")
    sibling = f"{parent}.{field.fallback_for}" if parent else str(field.fallback_for)
    primary = ResponseField(field.service, field.operation, sibling)
    assert primary in PRIMARY, f"{field_id(field)} stands in for {sibling}, which is not declared"
    assert retired(resolve(primary)) is None


def test_the_model_really_marks_account_status_retired() -> None:
    """The check reads what botocore says, so it would have caught item 1."""
    status = ResponseField("organizations", "ListAccounts", "Accounts[].Status")
    assert retired(resolve(status)) is not None


# -- the code against the declaration ------------------------------------------------------------


@dataclass(frozen=True)
class KeyRead:
    key: str
    line: int
    after: str | None
    """The key read first when this read is a later operand of `a or b`, else None."""


def _key(node: ast.AST) -> str | None:
    """The PascalCase key `node` reads: `x["Key"]` or `x.get("Key", ...)`."""
    if isinstance(node, ast.Subscript) and isinstance(node.ctx, ast.Load):
        index = node.slice
    elif (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "get"
        and node.args
    ):
        index = node.args[0]
    else:
        return None
    if isinstance(index, ast.Constant) and isinstance(index.value, str):
        return index.value if RESPONSE_KEY.fullmatch(index.value) else None
    return None


def key_reads(source: str) -> list[KeyRead]:
    tree = ast.parse(source)
    after: dict[int, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.BoolOp) and isinstance(node.op, ast.Or):
            first = _key(node.values[0])
            if first is not None:
                for later in node.values[1:]:
                    after[id(later)] = first
    found = []
    for node in ast.walk(tree):
        key = _key(node)
        if key is not None:
            found.append(KeyRead(key, node.lineno, after.get(id(node))))
    return sorted(found, key=lambda r: r.line)


def declared_keys() -> set[str]:
    return {
        segment.removesuffix("[]") for f in RESPONSE_FIELDS for segment in f.path.split(".")
    } | set(ERROR_KEYS)


def fallback_violations(source: str) -> list[str]:
    """Reads of a key declared only as a fallback that do not come after the key it stands in
    for, as `line: message`."""
    primary = {s.removesuffix("[]") for f in PRIMARY for s in f.path.split(".")}
    stands_in = {
        f.path.rsplit(".", 1)[-1].removesuffix("[]"): str(f.fallback_for)
        for f in FALLBACKS
        if f.path.rsplit(".", 1)[-1].removesuffix("[]") not in primary
    }
    return [
        f"{read.line}: {read.key} is read first, but it is declared only as a fallback for "
        f"{stands_in[read.key]} (read it as `x.get({stands_in[read.key]!r}) or "
        f"x.get({read.key!r})`)"
        for read in key_reads(source)
        if read.key in stands_in and read.after != stands_in[read.key]
    ]


BOTOCORE_METADATA = frozenset({"ResponseMetadata", "HTTPHeaders", "HTTPStatusCode", "RequestId"})
"""What botocore itself adds to every answer (no service model declares it)."""


def test_every_response_key_the_code_reads_is_declared() -> None:
    known = declared_keys() | BOTOCORE_METADATA
    undeclared = [
        f"aws/{module.name}:{r.line}: {r.key}"
        for module in AWS_MODULES
        for r in key_reads(module.read_text())
        if r.key not in known
    ]
    assert not undeclared, "declare these in remediation.aws.RESPONSE_FIELDS: " + "; ".join(
        undeclared
    )


def test_a_retired_field_is_read_only_where_the_current_one_is_absent() -> None:
    for module in AWS_MODULES:
        assert fallback_violations(module.read_text()) == [], module.name


@pytest.mark.parametrize(
    ("source", "violations"),
    [
        # main before item 1: Status read first, State never.
        (
            'ids = [a["Id"] for a in page.get("Accounts", []) if a.get("Status") == "ACTIVE"]',
            1,
        ),
        ('state = found.get("Status") or found.get("State")', 1),
        ('state = found.get("State") or found.get("Status")', 0),
        ('state = found.get("State")', 0),
    ],
    ids=["status-only", "status-first", "state-then-status", "state-only"],
)
def test_the_check_catches_account_status_read_first(source: str, violations: int) -> None:
    assert len(fallback_violations(source)) == violations
    assert all(r.key in declared_keys() for r in key_reads(source))


def _runtime_imports(tree: ast.Module) -> Iterator[str]:
    """Modules imported outside `if TYPE_CHECKING:` blocks."""

    def walk(nodes: list[ast.stmt]) -> Iterator[str]:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                yield from walk(node.orelse)
                continue
            for child in ast.walk(node):
                if isinstance(child, ast.Import):
                    yield from (alias.name for alias in child.names)
                elif isinstance(child, ast.ImportFrom) and child.module:
                    yield child.module

    yield from walk(tree.body)


def test_only_aws_py_talks_to_boto3_so_only_it_reads_answers() -> None:
    talkers = sorted(
        str(path.relative_to(REMEDIATION))
        for path in REMEDIATION.rglob("*.py")
        if any(
            name.split(".")[0] in ("boto3", "botocore")
            for name in _runtime_imports(ast.parse(path.read_text()))
        )
    )
    assert talkers, "no module talks to boto3"
    assert all(Path(talker).parent == Path("aws") for talker in talkers), talkers
