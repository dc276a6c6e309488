"""Findings as JUnit XML, valid against the Jenkins xUnit plugin's junit-10.xsd.

The xUnit plugin drops a file that breaks its schema (Jenkins' own JUnit plugin is lenient), so:
no <properties> inside a testcase (each testcase's details, ARN and status, go in its
<system-out>), no `skipped` on <testsuites>, and no character XML 1.0 cannot hold (an ANSI escape
in an AWS message) anywhere.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Sequence

from remediation.findings import GENERATOR_PREFIX, Finding

_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
"""What XML 1.0's Char production excludes: C0 controls but tab, newline and return; surrogates;
U+FFFE and U+FFFF."""


def xml_text(text: str) -> str:
    """`text` with every character XML cannot hold removed."""
    return _NOT_XML.sub("", text)


def junit_xml(
    findings: Sequence[Finding], run_errors: Sequence[str] = (), name: str = GENERATOR_PREFIX
) -> str:
    """One testsuite per account-region, one testcase per table and control, and a failure for
    each control that does not hold (unprotected, unknown, or an error on the way).

    What kept the run from checking at all (a setup error, an account-region not reached) is an
    error of its own; a run that checked no table at all says so as a skipped testcase, so that
    no dashboard shows an empty run as green.
    """
    suites: dict[tuple[str, str], list[Finding]] = {}
    for f in findings:
        suites.setdefault((f.account or "-", f.region or "-"), []).append(f)
    root = ET.Element("testsuites", name=name)
    totals = {"tests": 0, "failures": 0, "errors": 0}
    if run_errors or not findings:
        _run_suite(root, name, run_errors, checked=bool(findings))
        totals["tests"] += len(run_errors) + (0 if findings else 1)
        totals["errors"] += len(run_errors)
    for (account, region), group in sorted(suites.items()):
        failed = [f for f in group if not f.passed]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=xml_text(f"{name} {account} {region}"),
            tests=str(len(group)),
            failures=str(len(failed)),
            errors="0",
            skipped="0",
            timestamp=group[0].observed_at.strftime("%Y-%m-%dT%H:%M:%S"),
        )
        for f in group:
            _testcase(suite, f, f"{account}.{region}.{f.table}")
        totals["tests"] += len(group)
        totals["failures"] += len(failed)
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"


def _run_suite(root: ET.Element, name: str, run_errors: Sequence[str], *, checked: bool) -> None:
    suite = ET.SubElement(root, "testsuite", name=f"{name} run")
    for text in run_errors:
        case = ET.SubElement(suite, "testcase", classname=name, name="run", time="0")
        clean = xml_text(text)
        ET.SubElement(case, "error", message=clean, type="run").text = clean
    if not checked:
        case = ET.SubElement(suite, "testcase", classname=name, name="tables", time="0")
        ET.SubElement(case, "skipped", message="no table was checked")
    suite.set("tests", str(len(run_errors) + (0 if checked else 1)))
    suite.set("failures", "0")
    suite.set("errors", str(len(run_errors)))
    suite.set("skipped", "0" if checked else "1")


def _testcase(suite: ET.Element, f: Finding, classname: str) -> None:
    case = ET.SubElement(
        suite, "testcase", classname=xml_text(classname), name=f.control.id, time="0"
    )
    detail = xml_text(f.detail)
    if not f.passed:
        failure = ET.SubElement(case, "failure", message=detail, type=f.status)
        failure.text = f"{detail}\n\n{f.control.remediation}\n{f.control.docs_url}"
    lines = [detail, f"status: {f.status}"]
    if f.arn:
        lines.append(f"arn: {xml_text(f.arn)}")
    if f.changed:
        lines.append("changed: true")
    ET.SubElement(case, "system-out").text = "\n".join(lines)


__all__ = ["junit_xml", "xml_text"]
