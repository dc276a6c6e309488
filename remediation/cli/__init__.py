"""`python -m remediation harden` and the `sentinel-harden` script.

- `args`: argv -> frozen `Options`, `UsageError`.
- `status`: the `ExitStatus` codes, named by the parser, the report and the entry points.
- `run`: the run, top-down (select, read, judge, confirm, act), building one `report.Report`.
- `report`: that immutable report; counts and the exit status are derived from it.
- `formats`: one module per output format, each `render(report, stream)`, loaded when asked.
- `main`: the entry points, `main(argv, stdin, stdout, stderr) -> ExitStatus`.

`run` here is the `sentinel-harden` script's function (pyproject's `remediation.cli:run`); the
module of the same name is `remediation.cli.run` (import from it with `from ... import`).
"""

from remediation.cli.args import (
    KNOWN_OPERATIONS,
    MODULE_PROG,
    Options,
    UsageError,
    build_parser,
    parse_options,
)
from remediation.cli.main import main, run, run_module
from remediation.cli.report import Report
from remediation.cli.status import ExitStatus

__all__ = [
    "KNOWN_OPERATIONS",
    "MODULE_PROG",
    "ExitStatus",
    "Options",
    "Report",
    "UsageError",
    "build_parser",
    "main",
    "parse_options",
    "run",
    "run_module",
]
