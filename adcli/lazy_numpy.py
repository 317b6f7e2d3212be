"""NumPy, imported on first use.

`import numpy` is about 60-70% of a one-shot `adcli grad ... --at x=2` when it happens at
start-up; scalar programs are evaluated with Python floats (tape.py's scalar sweep) and
never need it. Every adcli module takes `np` from here, and nothing touches `np.` while
modules load, so NumPy loads the first time an array, a NumPy scalar or an edge case
(a nan, an inf, a domain error) comes along.
"""

from __future__ import annotations

import importlib.util
import sys
from types import ModuleType


def _on_demand(name: str) -> ModuleType:
    loaded = sys.modules.get(name)
    if loaded is not None:
        return loaded
    spec = importlib.util.find_spec(name)
    spec.loader = importlib.util.LazyLoader(spec.loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


np = _on_demand("numpy")
