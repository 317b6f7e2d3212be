"""adcli: exact derivatives of formulas typed as text, on a tape-based reverse-mode engine."""

from .api import Compiled, compile, evaluate, grad
from .errors import AdcliError, BindingError, NamingError, ParseError, SeriesError, ShapeError

__version__ = "0.1.0"

__all__ = [
    "AdcliError", "BindingError", "Compiled", "NamingError", "ParseError", "SeriesError", "ShapeError",
    "compile", "evaluate", "grad", "__version__",
]
