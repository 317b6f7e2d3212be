"""The Click front end: options in, a command's result rendered out, exit codes. Only this package imports click."""

from .app import main, run

__all__ = ["main", "run"]
