"""Small-array loops (replay plans): descend, a 20-variable Hessian and a Jacobian, against JAX jit,
PyTorch and adcli as it was before the replays, all in one process.

    python tests/benchmarks/small_loops.py [--quick] [--threads N] [--before REV]

adcli "before" is the package at git revision REV (default: the last commit before the replays),
unpacked from git beside this run as `adcli_before`, so both run in one process and alternate
round by round (harness.alternate). --threads N pins PyTorch's, JAX's and the BLAS's threads
to N (set before any of them loads). Not collected by pytest: it prints numbers and ratios.
"""

from __future__ import annotations

import argparse
import importlib
import os
import subprocess
import sys
import tempfile
from pathlib import Path

BEFORE = "5ebd0aa"  # main before the replay plans
CALLS = 20  # Hessians and Jacobians per timing


def _pin_threads(count: int) -> None:
    for variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[variable] = str(count)
    os.environ["XLA_FLAGS"] = f"--xla_cpu_multi_thread_eigen={'true' if count > 1 else 'false'} " \
                              f"intra_op_parallelism_threads={count}"


def _options() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--threads", type=int, default=None, help="threads for PyTorch, JAX and the BLAS")
    parser.add_argument("--before", default=BEFORE, help="the git revision of adcli 'before'")
    return parser.parse_args()


OPTIONS = _options()
if OPTIONS.threads:
    _pin_threads(OPTIONS.threads)
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

import training  # noqa: E402
from harness import REPO, alternate, framework  # noqa: E402


def before_package(revision: str, folder: Path):
    """adcli at `revision`, importable as `adcli_before` (its imports inside the package are relative)."""
    archive = subprocess.run(["git", "-C", str(REPO), "archive", revision, "adcli", "grammar"],
                             check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(folder)], input=archive, check=True)
    (folder / "adcli").rename(folder / "adcli_before")
    sys.path.insert(0, str(folder))
    return importlib.import_module("adcli_before")


def descend_candidates(packages: dict) -> dict:
    data = training.linear_data()
    candidates = {}
    for label, package in packages.items():
        compiled = package.compile(training.LOSS)
        descend = importlib.import_module(f"{package.__name__}.commands.descend").descend
        candidates[label] = lambda descend=descend, compiled=compiled: descend(
            compiled, data, ["W", "b"], training.LR, training.STEPS).values
    for label, make in (("JAX jit", training.jax_descent), ("PyTorch", training.torch_descent)):
        module = framework(label.split()[0])
        if module:
            candidates[label] = make(data, module)
    return candidates


def hessian_candidates(packages: dict) -> dict:
    point = np.random.default_rng(20).uniform(-1, 1, training.HESSIAN_SIZE)
    bindings = {f"x{i + 1}": value for i, value in enumerate(point)}
    text = training.hessian_text()
    candidates = {}
    for label, package in packages.items():
        compiled = package.compile(text)
        candidates[label] = lambda compiled=compiled: compiled.hessian(**bindings)[2]
    jax = framework("JAX")
    if jax:
        hessian = jax.jit(jax.hessian(training.hessian_function(jax.numpy)))
        candidates["JAX jit"] = lambda: np.asarray(hessian(point))
    torch = framework("PyTorch")
    if torch:
        vector = torch.from_numpy(point)
        candidates["PyTorch"] = lambda: torch.autograd.functional.hessian(training.hessian_function(torch), vector).numpy()
    return candidates


JACOBIAN = "tanh(W @ x + b) * x[0:4]"  # R^6 -> R^4 through a 4x6 layer: the Jacobian in x is 4x6


def jacobian_candidates(packages: dict) -> dict:
    rng = np.random.default_rng(4)
    W, x, b = rng.normal(size=(4, 6)), rng.normal(size=6), rng.normal(size=4)
    candidates = {}
    for label, package in packages.items():
        compiled = package.compile(JACOBIAN)
        candidates[label] = lambda compiled=compiled: compiled.jacobian(wrt=["x"], W=W, x=x, b=b)[1]["x"]
    jax = framework("JAX")
    if jax:
        jnp = jax.numpy
        jacobian = jax.jit(jax.jacobian(lambda x: jnp.tanh(W @ x + b) * x[0:4]))
        candidates["JAX jit"] = lambda: np.asarray(jacobian(x))
    torch = framework("PyTorch")
    if torch:
        tW, tb = torch.from_numpy(W), torch.from_numpy(b)
        candidates["PyTorch"] = lambda: torch.autograd.functional.jacobian(
            lambda v: torch.tanh(tW @ v + tb) * v[0:4], torch.from_numpy(x)).numpy()
    return candidates


def agreement(candidates: dict) -> str:
    def flat(result) -> np.ndarray:
        return np.concatenate([np.ravel(v) for v in (result.values() if isinstance(result, dict) else [result])])

    results = {label: flat(run()) for label, run in candidates.items()}
    bad = [label for label, got in results.items() if not np.allclose(got, results["adcli"], rtol=1e-9, atol=1e-12)]
    return f"MISMATCH: {', '.join(bad)}" if bad else "all agree"


def repeated(candidates: dict, calls: int) -> dict:
    """Each candidate made `calls` times per timing (warm, as a loop calls it; the timer's resolution
    and one cold call do not decide a sub-millisecond cell); `report` divides by `calls`."""
    def loop(run):
        def run_calls():
            for _ in range(calls):
                run()
        return run_calls
    return {label: loop(run) for label, run in candidates.items()}


def report(title: str, candidates: dict, repeats: int, calls: int = 1) -> None:
    note = agreement(candidates)
    seconds = {label: value / calls for label, value in alternate(repeated(candidates, calls), repeats).items()}
    print(f"{title} ({note})")
    for label, value in seconds.items():
        print(f"   {label:14} {value * 1e3:9.3f} ms")
    mine = seconds["adcli"]
    ratios = [f"adcli / {label}: {mine / value:.2f}x" for label, value in seconds.items() if label != "adcli"]
    print("   " + "; ".join(ratios))
    if "adcli before" in seconds and "JAX jit" in seconds:
        print(f"   before: adcli before / JAX jit: {seconds['adcli before'] / seconds['JAX jit']:.2f}x")
    print()


def main() -> None:
    import adcli

    repeats = 5 if OPTIONS.quick else 15
    with tempfile.TemporaryDirectory() as folder:
        os.environ["XDG_CACHE_HOME"] = folder  # the two versions' program stores stay apart from the user's
        packages = {"adcli": adcli, "adcli before": before_package(OPTIONS.before, Path(folder))}
        threads = OPTIONS.threads or "default"
        print(f"threads: {threads}; adcli from {Path(adcli.__file__).parent}; before = {OPTIONS.before}\n")
        report(f"descend: {training.STEPS:,} SGD steps on the tutorial's Linear example", descend_candidates(packages),
               max(3, repeats // 2))
        for calls in (1, CALLS):
            how = "one call per timing, as run.py" if calls == 1 else f"per call, {calls} calls per timing"
            report(f"hessian: {training.HESSIAN_SIZE} variables ({how})", hessian_candidates(packages), repeats, calls)
            report(f"jacobian: {JACOBIAN}, 4x6 ({how})", jacobian_candidates(packages), repeats, calls)


if __name__ == "__main__":
    main()
