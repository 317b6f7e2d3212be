"""What commands return: one small dataclass per kind of result, and the record each one shows as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

NOT_RECORDED = {"recorded": False}  # a field's metadata: kept out of the JSON record


@dataclass
class Result:
    """A command's result. Its fields, in order, are its JSON record (fields that are None left out);
    `warnings` go to standard error, and into the record only where a kind says so."""

    expr: str
    warnings: list[str] = field(default_factory=list, kw_only=True, metadata=NOT_RECORDED)

    RECORDS_WARNINGS: ClassVar[bool] = False

    def failed(self) -> bool:
        """Whether the result itself is a failure (exit 1), as a check that disagrees."""
        return False

    def record(self) -> dict[str, Any]:
        """The result as the JSON object SPEC shows: its recorded fields in order, None left out."""
        kind = type(self)
        names = _RECORDED.get(kind)
        if names is None:
            names = _RECORDED[kind] = tuple(f.name for f in fields(self) if f.metadata.get("recorded", True))
        shown = {name: getattr(self, name) for name in names}
        shown = {name: value for name, value in shown.items() if value is not None}
        if self.RECORDS_WARNINGS:
            shown["warnings"] = self.warnings
        return shown


_RECORDED: dict[type, tuple[str, ...]] = {}  # by kind: the names of the fields its record shows


# -- the kinds ----------------------------------------------------------------------------

@dataclass
class Value(Result):
    value: Any


@dataclass
class Gradient(Result):
    value: Any
    grad: dict[str, Any]


@dataclass
class Derivative(Result):
    value: Any
    wrt: str
    order: int
    derivative: Any


@dataclass
class Hessian(Result):
    value: Any
    grad: dict[str, Any]
    wrt: list[str]
    hessian: Any  # the wrt variables flattened in C order and concatenated


@dataclass
class Jacobian(Result):
    value: Any
    jacobian: dict[str, Any]  # name -> value.shape + variable.shape


@dataclass
class Check(Result):
    ok: bool
    max_abs_err: float
    max_rel_err: float
    grad: dict[str, Any]
    finite_difference: dict[str, Any]
    wrt: list[str] | None = None  # these three with order 2
    hessian: Any = None
    finite_difference_hessian: Any = None

    RECORDS_WARNINGS: ClassVar[bool] = True  # a check's warnings (kinks) are part of its verdict

    def failed(self) -> bool:
        return not self.ok


@dataclass
class Descent(Result):
    steps: int  # steps taken: fewer than asked when stopped early
    lr: float
    momentum: float | None  # None when there is none
    loss_before: float
    loss: float
    values: dict[str, Any]
    first_nonfinite_step: int | None = field(default=None, metadata=NOT_RECORDED)  # after which the loss was nan or inf


@dataclass
class TaylorSeries(Result):
    """c_k = f^(k)(at) / k! for k = 0..order, and the polynomial they make in (wrt - at)."""

    wrt: str
    at: float
    order: int
    coefficients: list[float]
    polynomial: str


@dataclass
class Limit(Result):
    """The limit of the program as wrt -> at; where the sides differ, None and each side's."""

    wrt: str
    at: float
    limit: float | None
    left: float
    right: float

    def record(self) -> dict[str, Any]:
        sides = {} if self.limit is not None else {"left": self.left, "right": self.right}
        return {"expr": self.expr, "wrt": self.wrt, "at": self.at, "limit": self.limit, **sides}
