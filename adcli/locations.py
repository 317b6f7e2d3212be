"""Where adcli's own files are: its grammar, and its folder in the user's cache."""

from __future__ import annotations

import os
import stat

PACKAGE = os.path.dirname(os.path.abspath(__file__))


def cache_folder() -> str:
    """adcli's folder in the user's cache ($XDG_CACHE_HOME, else ~/.cache); it may not exist yet.

    A relative $XDG_CACHE_HOME is ignored, as the XDG spec says: it would scatter caches over working folders.
    """
    root = os.environ.get("XDG_CACHE_HOME", "")
    if not os.path.isabs(root):
        root = os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(root, "adcli")


def state_folder() -> str:
    """adcli's folder in the user's state ($XDG_STATE_HOME, else ~/.local/state): the session's history."""
    root = os.environ.get("XDG_STATE_HOME", "")
    if not os.path.isabs(root):
        root = os.path.join(os.path.expanduser("~"), ".local", "state")
    return os.path.join(root, "adcli")


def private_cache_folder() -> str | None:
    """adcli's cache folder when only this user can change what is in it (made 0700 when missing), else None: no cache.

    Lark unpickles its cached tables and the program store unmarshals programs, so a file that
    another user could plant or swap would run code, or change an answer, as whoever runs adcli.
    """
    return private_folder(cache_folder())


def private_folder(folder: str) -> str | None:
    """`folder` when only this user can change what is in it (made 0700 when missing), else None."""
    try:
        os.makedirs(os.path.dirname(folder), exist_ok=True)
        if not all(_safe_ancestor(path) for path in _ancestors(folder)):
            return None  # checked first: nothing is made where another user could swap it
        try:
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass
        own = os.lstat(folder)
        if not stat.S_ISDIR(own.st_mode) or own.st_uid != os.geteuid() or own.st_mode & 0o022:
            return None  # a link, a file, someone else's, or writable by others: its content cannot be trusted
        if own.st_mode & 0o077:
            os.chmod(folder, 0o700)  # made by an older adcli under the umask; ours and written only by us, so kept
    except OSError:
        return None
    return folder


def _ancestors(folder: str) -> set[str]:
    """Every folder above `folder`, both as written and with links resolved: a link's own folder and its
    target's both decide who can swap what is below."""
    found: set[str] = set()
    for path in (os.path.abspath(folder), os.path.realpath(folder)):
        while path != os.path.dirname(path):
            path = os.path.dirname(path)
            found.add(path)
    return found


def _safe_ancestor(path: str) -> bool:
    """Owned by this user or root, and no one else can rename what is in it (not writable by others, or sticky as /tmp)."""
    status = os.stat(path)
    return status.st_uid in (0, os.geteuid()) and (not status.st_mode & 0o022 or bool(status.st_mode & stat.S_ISVTX))


def grammar_path() -> str:
    """The grammar: in the package when installed from a wheel, beside it in a source checkout.

    Plain os.path, not importlib.resources: that import would slow every start.
    """
    for folder in (PACKAGE, os.path.dirname(PACKAGE)):
        path = os.path.join(folder, "grammar", "adcli.lark")
        if os.path.isfile(path):
            return path
    raise FileNotFoundError(f"adcli's grammar is missing: no grammar/adcli.lark beside {PACKAGE}")
