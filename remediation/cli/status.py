"""The CLI's exit status: one code per way a run can end, documented in `--help`.

Its own module so that the parser, the report and the formats can all name it without importing
each other.
"""

from __future__ import annotations

from enum import IntEnum

__all__ = ["ExitStatus"]


class ExitStatus(IntEnum):
    OK = 0
    """Every selected table is protected (hardened now, or already), or a dry run."""
    FAILED = 1
    """One or more tables could not be read or hardened (the others were done), or an account or
    region could not be reached; under --check, one or more lack a protection or could not be
    read."""
    CANCELLED = 2
    """Declined at the prompt, or no terminal to ask on and no --force: nothing changed."""
    USAGE = 3
    """Bad flags or input (table name or ARN, prefix, rate, Pulumi state): nothing was called."""
    AWS_SETUP = 4
    """AWS could not be used at all: credentials, profile, region, endpoint, ListTables, an
    answer that is not AWS's; or the run selected no table (without --allow-empty)."""
    INTERRUPTED = 130
    """Ctrl-C: no new calls were started; what was done is reported."""
