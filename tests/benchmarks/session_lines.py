"""A session line after many definitions: parsing the line alone (a kept prelude) against the whole text (not a test).

    python tests/benchmarks/session_lines.py

Prints, for sessions of 10, 100 and 1,000 definitions, the time to compile one new line as a
multiple of compiling the session's whole text (what each line cost before preludes were kept).
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import alternate  # noqa: E402

from adcli.language.parser import EMPTY_PRELUDE, compile_program, parser  # noqa: E402


def main() -> None:
    for count in (10, 100, 1000):
        definitions = [f"f{k}(t) = t^2 sin(t) + {k}" if k % 2 else f"u{k} = sqrt(x) + {k} y" for k in range(count)]
        prelude = EMPTY_PRELUDE
        for definition in definitions:
            prelude = parser().extend(prelude, definition)
        line = f"f1(x) + u{count - 2} + cos(x y)"
        whole = "\n".join([*definitions, line])
        assert parser().compile_after(prelude, line) == compile_program(whole)
        seconds = alternate({"line": lambda: parser().compile_after(prelude, line),
                             "whole": lambda: compile_program(whole)}, 7)
        print(f"{count:5d} definitions: a line {seconds['line'] * 1e3:7.2f} ms, the whole text {seconds['whole'] * 1e3:8.2f} ms,"
              f" ratio {seconds['line'] / seconds['whole']:.3f}", flush=True)


if __name__ == "__main__":
    main()
