"""`python -m remediation` runs the CLI."""

from remediation.cli import run

run()
