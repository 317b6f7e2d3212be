"""`python -m adcli` is the `adcli` command."""

from .cli import run

run()
