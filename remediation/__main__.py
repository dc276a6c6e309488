"""`python -m remediation COMMAND` runs the CLI (the `sentinel-harden` script is `harden`)."""

from remediation.cli import run_module

run_module()
