"""JUnit XML checked against the Jenkins xUnit plugin's junit-10.xsd, with lxml.

The XSD comes from a registry package: pytest's source distribution on PyPI ships the xUnit
plugin's junit-10.xsd as testing/example_scripts/junit-10.xsd (pytest's own junitxml tests validate
against it). `make test-tools` downloads that sdist (version pinned in the Makefile), extracts the
file into tests/.evaluators/ and checks its SHA-256.
"""

from __future__ import annotations

from functools import cache

from lxml import etree

from tests.evaluator_tools import TOOLS
from tests.evaluator_tools import require as _require

XSD = TOOLS / "junit-10.xsd"


def missing() -> str:
    """Why the XSD check cannot run here, or "" when it can."""
    if not XSD.exists():
        return "the JUnit check needs tests/.evaluators/junit-10.xsd (from pytest's sdist)"
    return ""


def require() -> None:
    _require(missing())


@cache
def _schema() -> etree.XMLSchema:
    return etree.XMLSchema(etree.parse(str(XSD)))


def errors(xml: bytes) -> list[str]:
    """Each way the document breaks junit-10.xsd ('line N: message'); empty when it validates."""
    if missing():
        raise FileNotFoundError(missing())
    try:
        document = etree.fromstring(xml, etree.XMLParser(resolve_entities=False, no_network=True))
    except etree.XMLSyntaxError as error:
        return [f"not well-formed XML: {error}"]
    schema = _schema()
    if schema.validate(etree.ElementTree(document)):
        return []
    return [f"line {entry.line}: {entry.message}" for entry in schema.error_log]
