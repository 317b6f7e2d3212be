"""NumPy, imported on first use.

`import numpy` is most of a one-shot `adcli grad ... --at x=2` when it happens at
start-up; scalar programs are evaluated with Python floats (tape.py's scalar sweep) and
never need it. Every adcli module takes `np` from here, and nothing touches `np.` while
modules load, so NumPy loads the first time an array, a NumPy scalar or an edge case
(a nan, an inf, a domain error) comes along.
"""

from __future__ import annotations

import importlib
import sys
from typing import TYPE_CHECKING, Any

_PACKAGE = __name__.partition(".")[0]


class _NumPyOnFirstUse:
    """Stands in for NumPy until an attribute is first asked of it; then imports NumPy and puts it in its place.

    The import is an ordinary `import numpy`: threads that ask at once wait on the import
    system's own lock, which also sees deadlocks with threads importing NumPy's submodules.
    Then every adcli module's `np` is NumPy itself, so later lookups cost nothing extra.
    (importlib's LazyLoader registers a half-made module instead: on Python 3.11 the threads
    that lost the race saw NumPy half-loaded, and a lock of one's own around the load can
    deadlock against a thread that imports `numpy.linalg`.)
    """

    def __getattr__(self, attribute: str) -> Any:
        numpy = self.__dict__.get("numpy")
        if numpy is None:
            numpy = importlib.import_module("numpy")
            for name, module in list(sys.modules.items()):
                if name.partition(".")[0] == _PACKAGE and getattr(module, "np", None) is self:
                    module.np = numpy
            self.__dict__["numpy"] = numpy  # for anyone who kept this stand-in: no second search
        return getattr(numpy, attribute)


if TYPE_CHECKING:  # so that type checkers read `np.ndarray` and the like as NumPy's
    import numpy as np
else:
    np = sys.modules.get("numpy") or _NumPyOnFirstUse()
