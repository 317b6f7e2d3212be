"""NumPy, imported on first use.

`import numpy` is about 60-70% of a one-shot `adcli grad ... --at x=2` when it happens at
start-up; scalar programs are evaluated with Python floats (tape.py's scalar sweep) and
never need it. Every adcli module takes `np` from here, and nothing touches `np.` while
modules load, so NumPy loads the first time an array, a NumPy scalar or an edge case
(a nan, an inf, a domain error) comes along.
"""

from __future__ import annotations

import _thread
import importlib.util
import sys
from types import ModuleType
from typing import Any


class _OnFirstUse(ModuleType):
    """A module whose code runs at the first attribute asked of it, once, whatever threads ask at once.

    Like importlib's LazyLoader, but that takes no lock before Python 3.12.3: the threads that
    lost the race saw a half-loaded module ("module 'numpy' has no attribute 'sqrt'"). Once
    loaded, the module is a plain module again, so later lookups cost nothing extra.
    """

    def __getattribute__(self, attribute: str) -> Any:
        state = object.__getattribute__(self, "__spec__").loader_state
        with state["lock"]:
            if object.__getattribute__(self, "__class__") is _OnFirstUse:
                if state["loading"]:  # the module's own code, while it runs, reading what it has set so far
                    return ModuleType.__getattribute__(self, attribute)
                state["loading"] = True
                state["loader"].exec_module(self)
                self.__class__ = ModuleType
        return getattr(self, attribute)


def _on_demand(name: str) -> ModuleType:
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec(name)
    module = importlib.util.module_from_spec(spec)
    spec.loader_state = {"loader": spec.loader, "lock": _thread.RLock(), "loading": False}
    module.__class__ = _OnFirstUse
    sys.modules[name] = module
    return module


np = _on_demand("numpy")
