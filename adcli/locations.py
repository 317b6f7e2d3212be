"""Where adcli's own files are: its grammar, and its folder in the user's cache."""

from __future__ import annotations

import os

PACKAGE = os.path.dirname(os.path.abspath(__file__))


def cache_folder() -> str:
    """adcli's folder in the user's cache ($XDG_CACHE_HOME, else ~/.cache); it may not exist yet.

    A relative $XDG_CACHE_HOME is ignored, as the XDG spec says: it would scatter caches over working folders.
    """
    root = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(root):
        root = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "adcli")


def grammar_path() -> str:
    """The grammar: in the package when installed from a wheel, beside it in a source checkout.

    Plain os.path, not importlib.resources: that import costs ~10 ms of every start.
    """
    for folder in (PACKAGE, os.path.dirname(PACKAGE)):
        path = os.path.join(folder, "grammar", "adcli.lark")
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"adcli's grammar is missing: no grammar/adcli.lark beside {PACKAGE}")
