"""The entry points: `main(argv, stdin, stdout, stderr) -> ExitStatus`, and the scripts.

Every failure is one line on stderr and an ExitStatus, never a traceback; the report is rendered
in the format asked for on every exit path.
"""

from __future__ import annotations

import io
import itertools
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import IO, NoReturn

from remediation.cli import formats
from remediation.cli.args import MODULE_PROG, UsageError, build_parser, help_hint, parse_options
from remediation.cli.progress import final_line
from remediation.cli.report import Report
from remediation.cli.status import ExitStatus
from remediation.core import Requirement


def main(
    argv: Sequence[str],
    stdin: IO[str],
    stdout: IO[str],
    stderr: IO[str],
    prog: str | None = None,
) -> ExitStatus:
    """Run the CLI; every failure is one line on stderr and an ExitStatus, never a traceback.

    `argv` is `harden ...` as `python -m remediation` takes it; with `prog` (the name the
    `sentinel-harden` script was typed as) it is the harden command's own flags.
    """
    as_json = _wants_json(argv)
    try:
        return _main(argv, stdin, stdout, stderr, as_json, prog)
    except KeyboardInterrupt:  # before the run began (or after it ended): nothing was changed
        print("Interrupted: nothing was changed.", file=stderr)
        if as_json:
            formats.load("json").render(Report(Requirement(), interrupted=True), stdout)
        return ExitStatus.INTERRUPTED


def _wants_json(argv: Sequence[str]) -> bool:
    """Whether the document asked for is JSON, told before (or without) a successful parse,
    so that even a usage error or an early Ctrl-C writes one."""
    args = list(argv)
    pairs = set(itertools.pairwise(args))
    return "--json" in args or "--format=json" in args or ("--format", "json") in pairs


def _main(
    argv: Sequence[str],
    stdin: IO[str],
    stdout: IO[str],
    stderr: IO[str],
    as_json: bool,
    prog: str | None,
) -> ExitStatus:
    if prog is None and not argv:  # `python -m remediation` alone: what can it do?
        build_parser().print_help(stderr)
        return ExitStatus.USAGE
    if prog is None and argv[0] == "guardrail":
        return _guardrail(argv, stdin, stdout, stderr)
    try:
        options = parse_options(argv, prog)
    except UsageError as exc:
        return _fail(ExitStatus.USAGE, str(exc), stdout, stderr, as_json, help_hint(argv, prog))
    except SystemExit as exc:  # --help and --version print, then argparse exits 0
        return ExitStatus.OK if not exc.code else ExitStatus.USAGE
    from remediation.cli.run import Console, execute  # boto3: only once the arguments are good

    # With --output the chosen format goes to the file, and the terminal keeps the text report.
    chosen = formats.load(options.terminal_format)
    to_file = formats.load(options.format) if options.output is not None else None
    console = Console(stdin, stdout, stderr, interactive_output=chosen.name == formats.DEFAULT)

    def show_plan(report: Report) -> None:
        if chosen.render_plan is not None:
            chosen.render_plan(report, stdout)

    report = execute(options, console, show_plan)
    if report.error_status is ExitStatus.USAGE:
        hint = help_hint(argv, prog)
        return _fail(ExitStatus.USAGE, report.error or "", stdout, stderr, options.as_json, hint)
    if report.error is not None:
        print(f"error: {_one_line(report.error)}", file=stderr)
    if chosen.streams:
        assert chosen.render_outcome is not None
        chosen.render_outcome(report, stdout)
    else:
        chosen.render(report, stdout)
    line = final_line(report)
    if line is not None:
        print(line, file=stderr)
    if to_file is not None and options.output is not None:
        try:
            with options.output.open("w", encoding="utf-8") as file:
                to_file.render(report, file)
        except OSError as exc:
            print(f"error: cannot write --output {options.output}: {exc.strerror}", file=stderr)
            return max(report.exit_status, ExitStatus.FAILED)
    return report.exit_status


def _guardrail(argv: Sequence[str], stdin: IO[str], stdout: IO[str], stderr: IO[str]) -> ExitStatus:
    """`python -m remediation guardrail ...`: its own run (remediation/cli/guardrail_rcp.py)."""
    from remediation.cli import guardrail_rcp

    try:
        args = build_parser().parse_args(list(argv))
    except UsageError as exc:
        hint = f"{MODULE_PROG} guardrail --help"
        print(f"error: {_one_line(str(exc))} (see `{hint}`)", file=stderr)
        return ExitStatus.USAGE
    except SystemExit as exc:  # --help
        return ExitStatus.OK if not exc.code else ExitStatus.USAGE
    return guardrail_rcp.run(args, stdin, stdout, stderr)


def _fail(
    status: ExitStatus,
    message: str,
    stdout: IO[str],
    stderr: IO[str],
    as_json: bool,
    hint: str,
) -> ExitStatus:
    print(f"error: {_one_line(message)} (see `{hint}`)", file=stderr)
    if as_json:
        formats.load("json").render(
            Report(Requirement(), error=message, error_status=status), stdout
        )
    return status


def _one_line(message: str, limit: int = 600) -> str:
    """An error is one line, whatever an answer put in it (a page of HTML, a stack of text)."""
    text = " ".join(message.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def run() -> NoReturn:
    """The `sentinel-harden` script: the harden command itself, its usage line named as typed.
    `sentinel-harden harden ...`, the form before the script was the command, still works."""
    _prepare_streams()
    argv = sys.argv[1:]
    if argv[:1] == ["harden"]:
        argv = argv[1:]
    _exit(main(argv, sys.stdin, sys.stdout, sys.stderr, Path(sys.argv[0]).name))


def run_module() -> NoReturn:
    """`python -m remediation COMMAND`."""
    _prepare_streams()
    _exit(main(sys.argv[1:], sys.stdin, sys.stdout, sys.stderr))


def _prepare_streams() -> None:
    for stream in (sys.stdout, sys.stderr):
        if isinstance(stream, io.TextIOWrapper):  # ✓ and ✗ on a terminal that cannot show them
            stream.reconfigure(errors="replace")


def _exit(status: ExitStatus) -> NoReturn:
    try:
        sys.stdout.flush()
    except BrokenPipeError:
        # Keep the interpreter's own flush at exit from printing a traceback-like warning.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    sys.exit(status)


__all__ = ["main", "run", "run_module"]
