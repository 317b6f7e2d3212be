"""The tracer's rewrite rules: what it records instead of a primitive, and why the numbers stay right.

A rule sees a `Term` (the primitive, its operand slots, the constants among them and its
parameters) and returns a handle to record instead, or None to pass. The tracer tries the
rules of its `RuleSet` in order, for the term's primitive only; a rule may call the tracer,
so its results are rewritten too. Each rule says in one line why it is exact in IEEE
arithmetic, or, for the few that are not, what they change on purpose. Repeated
differentiation would pile up dead weight without them; with them an nth derivative stays
polynomial in n.

To add a rule: write `def rule(tracer, term) -> Handle | None`, wrap it in `Rule(...)` with
the primitives it concerns and its reason, and put it in the lists below where it should be
tried (a rule earlier in a list wins).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any, Callable, Mapping, NamedTuple, Sequence

from ..lazy_numpy import np

from .primitives import PRIMITIVES
from .program import COMMUTATIVE, CONST, broadcast_shape
from .sweeps import Handle

if TYPE_CHECKING:
    from .tracer import Tracer


class Term(NamedTuple):
    """A primitive about to be recorded: `constants[i]` is operand i's value when slot i is a constant, else None."""

    op: str
    slots: list[int]
    constants: list[Any]
    params: Mapping[str, Any]


class Rule(NamedTuple):
    name: str
    ops: frozenset[str] | None  # the primitives it rewrites (None: every one)
    rewrite: Callable[[Tracer, Term], Handle | None]
    reason: str  # why the rewritten program computes the same numbers (or what it changes, on purpose)


class RuleSet:
    """Rules in the order they are tried, looked up by primitive."""

    def __init__(self, rules: Sequence[Rule]):
        self.rules = tuple(rules)
        self._by_op: dict[str, tuple[Rule, ...]] = {}

    def __iter__(self):
        return iter(self.rules)

    def for_op(self, op: str) -> tuple[Rule, ...]:
        found = self._by_op.get(op)
        if found is None:
            found = self._by_op[op] = tuple(rule for rule in self.rules if rule.ops is None or op in rule.ops)
        return found


def is_exactly(value: Any, number: float) -> bool:
    """value is the scalar `number` (+0.0, not -0.0, for zero: -0.0 + x is not x when x is -0.0)."""
    return isinstance(value, float) and value == number and math.copysign(1.0, value) > 0


def _is_zero(value: Any) -> bool:
    return isinstance(value, float) and value == 0.0


# -- rules for every recording ----------------------------------------------------------------

def fold_constants(tracer: Tracer, term: Term) -> Handle | None:
    if not term.constants or any(c is None for c in term.constants) or term.op not in PRIMITIVES:
        return None
    value = _folded_on_floats(term)
    if value is None:
        try:
            with np.errstate(all="ignore"):
                value = PRIMITIVES[term.op].forward(*term.constants, **term.params)
        except (ValueError, IndexError, TypeError):  # operands NumPy refuses: left for the sweep to report at their place
            return None
    return Handle(tracer, tracer.builder.const(value, tracer.span))


# Folded on Python floats, whose IEEE arithmetic and comparisons give NumPy's float64 answers bit
# for bit (no libm in between), so that recording the derivative of a scalar program (diff(...)
# in a one-shot command) does not load NumPy.
_EXACT_ON_FLOATS = frozenset(("add", "sub", "mul", "div", "neg", "equal", "greater", "greater_equal", "logical_and",
                              "where", "lt", "le", "gt", "ge", "eq", "ne"))


def _folded_on_floats(term: Term) -> float | None:
    if term.params or term.op not in _EXACT_ON_FLOATS or not all(type(c) is float for c in term.constants):
        return None
    try:
        return float(PRIMITIVES[term.op].scalar(*term.constants))
    except ArithmeticError:  # 1/0: NumPy's inf or nan
        return None


_NEUTRAL = {"mul": 1.0, "add": 0.0, "sub": 0.0, "div": 1.0}  # x op this == x


def drop_identity(tracer: Tracer, term: Term) -> Handle | None:
    """x*1, 1*x, x+0, 0+x, x-0, x/1 -> x."""
    neutral = _NEUTRAL[term.op]
    if is_exactly(term.constants[1], neutral):
        return tracer.handle(term.slots[0])
    if term.op in COMMUTATIVE and is_exactly(term.constants[0], neutral):
        return tracer.handle(term.slots[1])
    return None


def drop_shape_identity(tracer: Tracer, term: Term) -> Handle | None:
    """The operand a broadcast, or a `where` with a constant scalar condition, returns unchanged, judged by shapes."""
    shape, slots = tracer.builder.shape, term.slots
    if term.op != "where":
        return tracer.handle(slots[0]) if shape(slots[0]) is not None and shape(slots[0]) == shape(slots[1]) else None
    condition = term.constants[0]
    if condition is not None and _is_scalar_value(condition):
        chosen, other = (slots[1], slots[2]) if condition else (slots[2], slots[1])
        if _is_scalar(tracer, other) or (shape(chosen) is not None and shape(chosen) == shape(other)):
            return tracer.handle(chosen)  # the result has the chosen branch's shape
    return None


def _is_scalar(tracer: Tracer, slot: int) -> bool:
    value = tracer.builder.constant_value(slot)
    return (value is not None and _is_scalar_value(value)) or tracer.builder.shape(slot) == ()


def _is_scalar_value(value: Any) -> bool:
    return type(value) is float or np.ndim(value) == 0  # a float first: deciding it must not load NumPy


def fuse_scans(tracer: Tracer, term: Term) -> Handle | None:
    """scan(u, a) + scan(v, a) -> scan(u + v, a): a tangent sweep makes one scan per operand of a scan,
    so without this prod's nth derivative programs double their scans at every order."""
    first, second = (tracer.builder.instructions[slot] for slot in term.slots)
    if first.op != "scan" or (second.op, second.args[1], second.params) != ("scan", first.args[1], first.params):
        return None
    summed = tracer("add", tracer.handle(first.args[0]), tracer.handle(second.args[0]))
    return tracer("scan", summed, tracer.handle(first.args[1]), **dict(first.params))


def drop_double_negation(tracer: Tracer, term: Term) -> Handle | None:
    inner = tracer.builder.instructions[term.slots[0]]
    return tracer.handle(inner.args[0]) if inner.op == "neg" else None


# For (first operand negated, second operand negated): (negate the result, swap operands, new op).
_SIGN_MOVES = {
    "mul": {(True, False): (True, False, "mul"), (False, True): (True, False, "mul"), (True, True): (False, False, "mul")},
    "div": {(True, False): (True, False, "div"), (False, True): (True, False, "div"), (True, True): (False, False, "div")},
    "add": {(True, False): (False, True, "sub"), (False, True): (False, False, "sub"), (True, True): (True, False, "add")},
    "sub": {(True, False): (True, False, "add"), (False, True): (False, False, "add"), (True, True): (False, True, "sub")},
}


def signs_outside(tracer: Tracer, term: Term) -> Handle | None:
    """Negations move outside sums and products, where equal terms meet: -(a/b)/b and -((a/b)/b) become one slot."""
    signed = [_unsigned(tracer, slot) for slot in term.slots]
    (a, negative_a), (b, negative_b) = signed
    if not (negative_a or negative_b):
        return None
    flip, swap, op = _SIGN_MOVES[term.op][(negative_a, negative_b)]
    first, second = tracer.handle(a), tracer.handle(b)
    result = tracer(op, *((second, first) if swap else (first, second)))
    return -result if flip else result


def _unsigned(tracer: Tracer, slot: int) -> tuple[int, bool]:
    """(s, True) when `slot` is -s (a negation or a negative scalar constant), else (slot, False)."""
    instruction = tracer.builder.instructions[slot]
    if instruction.op == "neg":
        return instruction.args[0], True
    if instruction.op == CONST:
        value = instruction.constant
        if isinstance(value, float) and value < 0:
            return tracer.builder.const(-value, tracer.span), True
    return slot, False


def reciprocal(tracer: Tracer, term: Term) -> Handle | None:
    """a / b -> a * (1 / b): then the derivative of 1 / b is -(1 / b)^2 b', a product of slots that
    already exist, and nested tangent sweeps stay polynomial in size where (a / b) / b nests forever."""
    if is_exactly(term.constants[0], 1.0):
        return None
    return tracer("mul", tracer.handle(term.slots[0]), tracer("div", 1.0, tracer.handle(term.slots[1])))


# -- rules for tangent sweeps only ------------------------------------------------------------

def zero_factors_and_masks(tracer: Tracer, term: Term) -> Handle | None:
    """A product with a zero factor is zero, and a mask moves out of a product:
    where(c, 0, a) * s -> where(c, 0, a * s), as in the VJP it came from (a divisor is neither)."""
    for position in (0, 1):
        if term.op == "div" and position == 1:
            break
        zero = _zero_product(tracer, term.slots, position)
        if zero is not None:
            return zero
        masked = _masked(tracer, term.slots[position])
        if masked is not None:
            condition, kept, zero_first = masked
            other = tracer.handle(term.slots[1 - position])
            inner = tracer(term.op, kept, other) if position == 0 else tracer(term.op, other, kept)
            return tracer("where", condition, 0.0, inner) if zero_first else tracer("where", condition, inner, 0.0)
    return None


def _zero_product(tracer: Tracer, slots: list[int], position: int) -> Handle | None:
    """Zeros of the product's shape when operand `position` is zero (None when that shape is unknown)."""
    zero, other = slots[position], slots[1 - position]
    if not _is_zero_slot(tracer, zero):
        return None
    shapes = tracer.builder.shape(zero), tracer.builder.shape(other)
    result = broadcast_shape(*shapes)
    if result is None:
        return None
    if result == shapes[0]:
        return tracer.handle(zero)
    return tracer("broadcast_like", 0.0, tracer.handle(other)) if result == shapes[1] else None


def _is_zero_slot(tracer: Tracer, slot: int) -> bool:
    instruction = tracer.builder.instructions[slot]
    if instruction.op == "broadcast_like":
        return _is_zero(tracer.builder.constant_value(instruction.args[0]))
    return _is_zero(tracer.builder.constant_value(slot))


def _masked(tracer: Tracer, slot: int) -> tuple[Handle, Handle, bool] | None:
    """(c, a, True) for where(c, 0, a), (c, a, False) for where(c, a, 0), else None."""
    op, args, _, _ = tracer.builder.instructions[slot]
    if op != "where":
        return None
    condition, first, second = (tracer.handle(a) for a in args)
    if _is_zero(tracer.builder.constant_value(first.payload)):
        return condition, second, True
    if _is_zero(tracer.builder.constant_value(second.payload)):
        return condition, first, False
    return None


FOLD = Rule("fold constants", None, fold_constants,
            "the same NumPy call on the same constants, made while recording instead of at every evaluation")
IDENTITY = Rule("drop identities", frozenset(_NEUTRAL), drop_identity,
                "x*1, x/1, x+0 and x-0 are x in IEEE arithmetic (with +0.0 only: -0.0 + -0.0 is -0.0)")
SHAPE_IDENTITY = Rule("drop shape identities", frozenset(("sum_to_like", "broadcast_like", "where")),
                      drop_shape_identity, "a broadcast to the shape it has, or a select by a constant, copies its operand")
FUSED_SCANS = Rule("fuse scans", frozenset(("add",)), fuse_scans,
                   "not exact: a scan is linear in its first operand, so the sum is the same up to rounding")
DOUBLE_NEGATION = Rule("drop double negations", frozenset(("neg",)), drop_double_negation,
                       "negation only flips the sign bit, so --x is x, nan and -0.0 included")
SIGNS = Rule("move signs outside", frozenset(_SIGN_MOVES), signs_outside,
             "IEEE rounding is symmetric: (-a)*b, a*(-b) and -(a*b) are the same number, likewise for / + -")
RECIPROCAL = Rule("divide by reciprocals", frozenset(("div",)), reciprocal,
                  "not exact: one more rounding (a * (1/b)), taken to keep nested tangent sweeps small")
ZERO_FACTORS = Rule("zero factors and masks", frozenset(("mul", "div")), zero_factors_and_masks,
                    "not exact on purpose: a factor zero by construction makes the term zero, also where the "
                    "other factor is infinite (0 * inf would be nan), so an unused branch stays finite")

# Recording a reverse sweep (gradient programs): first derivatives keep PyTorch's 0 * inf = nan.
RECORDING = RuleSet([FOLD, IDENTITY, SHAPE_IDENTITY, FUSED_SCANS, DOUBLE_NEGATION, SIGNS])
# Transposing a primitive's VJP into its tangent rule.
TANGENT_RULE = RuleSet([ZERO_FACTORS, *RECORDING])
# Recording a tangent sweep (nth derivatives, forward-mode Jacobians).
TANGENT_SWEEP = RuleSet([ZERO_FACTORS, FOLD, IDENTITY, SHAPE_IDENTITY, FUSED_SCANS, DOUBLE_NEGATION, RECIPROCAL, SIGNS])
