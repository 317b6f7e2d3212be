"""A FormulaResult as text (`d/dx  3x^2 - 8x + 6`), plain formulas, LaTeX lines or JSON."""

from __future__ import annotations

from ..commands.formulas import FormulaResult

FORMULA_FORMATS = ("text", "plain", "json", "latex")


def render_formulas(result: FormulaResult, fmt: str) -> str:
    if fmt == "plain":
        return "\n".join(result.formulas[name].text for name in result.wrt)
    if fmt == "latex":
        return "\n".join(f"{_latex_label(name, result.order)} = {result.formulas[name].latex}" for name in result.wrt)
    if fmt == "json":
        import json

        return json.dumps({"expr": result.expr, "wrt": list(result.wrt), "order": result.order,
                           "derivative": {name: result.formulas[name].text for name in result.wrt},
                           "latex": {name: result.formulas[name].latex for name in result.wrt}})
    labels = [_text_label(name, result.order) for name in result.wrt]
    width = max(len(label) for label in labels)
    return "\n".join(f"{label.ljust(width)}  {result.formulas[name].text}" for label, name in zip(labels, result.wrt))


def _text_label(name: str, order: int) -> str:
    return f"d/d{name}" if order == 1 else f"d{order}/d{name}{order}"


def _latex_label(name: str, order: int) -> str:
    from ..symbolic.printing import LatexStyle

    variable = LatexStyle().name(name)
    if order == 1:
        return rf"\frac{{d}}{{d{variable}}}"
    return rf"\frac{{d^{{{order}}}}}{{d{variable}^{{{order}}}}}"
