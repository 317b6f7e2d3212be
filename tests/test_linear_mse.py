"""The tutorial's Linear + MSE + SGD example end to end through the CLI, with @file inputs.

W (2x3) and b (2) are the tutorial's printed parameters; x (5x3) and y (5x2) are a seeded
batch in files. Expected numbers come from the closed forms, with N = 5 rows and m = 2 outputs:
    pred = x W^T + b,  L = mean((pred - y)^2),
    dL/dW = 2/(N m) (pred - y)^T x,  dL/db = 2/(N m) sum over rows of (pred - y),
and one SGD step is W - lr dL/dW, b - lr dL/db. tests/reference/linear_mse_torch.py checks
the same commands against PyTorch's nn.Linear, nn.MSELoss and optim.SGD.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

W_TEXT = "[[0.4176, 0.2302, 0.3942], [-0.3258, 0.0489, -0.3333]]"
B_TEXT = "[0.4269, 0.2872]"
W = np.array([[0.4176, 0.2302, 0.3942], [-0.3258, 0.0489, -0.3333]])
B = np.array([0.4269, 0.2872])
LR = 0.01
GRAD_EXPR = "mean((x @ W.T + b - y)^2)"
DESCEND_EXPR = "pred = x @ W.T + b; mean((pred - y)^2)"


def batch() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(2018)
    return rng.standard_normal((5, 3)), rng.standard_normal((5, 2))


def closed_forms(x, y, weight, bias):
    residual = x @ weight.T + bias - y
    scale = 2.0 / residual.size
    return np.mean(residual ** 2), scale * residual.T @ x, scale * residual.sum(axis=0)


@pytest.fixture(params=["npy+csv", "csv+npy", "txt+json"])
def data_files(request, tmp_path):
    """x and y written in two of the supported file types; returns their --at options."""
    x, y = batch()
    x_kind, y_kind = request.param.split("+")
    paths = []
    for name, array, kind in (("x", x, x_kind), ("y", y, y_kind)):
        path = tmp_path / f"{name}.{kind}"
        if kind == "npy":
            np.save(path, array)
        elif kind == "json":
            path.write_text(json.dumps(array.tolist()))
        else:
            np.savetxt(path, array, delimiter="," if kind == "csv" else " ", fmt="%.17g")
        paths.append(f"{name}=@{path}")
    return ["--at", paths[0], "--at", paths[1], "--at", f"W={W_TEXT}", "--at", f"b={B_TEXT}"]


def test_grad_matches_the_closed_forms(cli, data_files):
    run = cli("grad", GRAD_EXPR, *data_files, "--wrt", "W,b", "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    loss, grad_w, grad_b = closed_forms(*batch(), W, B)
    assert record["expr"] == GRAD_EXPR
    assert list(record["grad"]) == ["W", "b"]
    assert record["value"] == pytest.approx(loss, rel=1e-13)
    np.testing.assert_allclose(record["grad"]["W"], grad_w, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(record["grad"]["b"], grad_b, rtol=1e-12, atol=1e-15)


def test_one_sgd_step_matches_the_update_by_hand(cli, data_files):
    run = cli("descend", DESCEND_EXPR, *data_files, "--wrt", "W,b", "--lr", str(LR), "--steps", "1",
              "--format", "json")
    assert run.exit_code == 0, run.stderr
    record = run.json()
    x, y = batch()
    loss, grad_w, grad_b = closed_forms(x, y, W, B)
    new_w, new_b = W - LR * grad_w, B - LR * grad_b
    assert list(record) == ["expr", "steps", "lr", "loss_before", "loss", "values"]
    assert record["expr"] == DESCEND_EXPR and record["steps"] == 1 and record["lr"] == LR
    assert record["loss_before"] == pytest.approx(loss, rel=1e-13)
    assert record["loss"] == pytest.approx(closed_forms(x, y, new_w, new_b)[0], rel=1e-13)
    assert record["loss"] < record["loss_before"]
    assert list(record["values"]) == ["W", "b"]
    np.testing.assert_allclose(record["values"]["W"], new_w, rtol=1e-14)
    np.testing.assert_allclose(record["values"]["b"], new_b, rtol=1e-14)


def test_the_grad_and_descend_spellings_agree(cli, data_files):
    by_grad = cli("grad", DESCEND_EXPR, *data_files, "--wrt", "W,b", "--format", "json").json()
    by_sum = cli("grad", "sum((x @ W.T + b - y)^2) / 10", *data_files, "--wrt", "W,b", "--format", "json").json()
    assert by_grad["value"] == pytest.approx(by_sum["value"], rel=1e-14)
    np.testing.assert_allclose(by_grad["grad"]["W"], by_sum["grad"]["W"], rtol=1e-13)


def test_text_output_shows_loss_and_updated_parameters(cli, data_files):
    run = cli("descend", DESCEND_EXPR, *data_files, "--wrt", "W,b", "--lr", "0.01")
    assert run.exit_code == 0, run.stderr
    labels = [line.split()[0] for line in run.stdout.splitlines() if not line.startswith(" ")]
    assert labels == ["steps", "lr", "loss_before", "loss", "W", "b"]
    w_lines = [line for line in run.stdout.splitlines() if line.startswith("W") or line.startswith("   ")]
    assert len(w_lines) == 2  # a 2x3 matrix on two aligned rows


def test_plain_output_is_the_json_numbers_in_order(cli, data_files):
    plain = cli("descend", DESCEND_EXPR, *data_files, "--wrt", "W,b", "--lr", "0.01", "--format", "plain")
    record = cli("descend", DESCEND_EXPR, *data_files, "--wrt", "W,b", "--lr", "0.01", "--format", "json").json()
    numbers = [record["lr"], record["loss_before"], record["loss"]]
    numbers += list(np.ravel(record["values"]["W"])) + record["values"]["b"]
    assert plain.stdout.split() == [str(record["steps"])] + [repr(float(number)) for number in numbers]


def test_csv_cannot_hold_the_weight_matrix(cli, data_files):
    run = cli("descend", DESCEND_EXPR, *data_files, "--wrt", "W,b", "--lr", "0.01", "--format", "csv")
    assert run.exit_code == 1 and "'W'" in run.stderr and "(2, 3)" in run.stderr


def test_the_issue_commands_run_as_a_console_script_with_relative_files(adcli_process, tmp_path):
    x, y = batch()
    np.save(tmp_path / "x.npy", x)
    np.savetxt(tmp_path / "y.csv", y, delimiter=",", fmt="%.17g")
    at = ["--at", "x=@x.npy", "--at", "y=@y.csv", "--at", f"W={W_TEXT}", "--at", f"b={B_TEXT}"]
    graded = adcli_process("grad", GRAD_EXPR, *at, "--wrt", "W,b", "--format", "json")
    stepped = adcli_process("descend", DESCEND_EXPR, *at, "--wrt", "W,b", "--lr", "0.01", "--steps", "1",
                            "--format", "json")
    assert graded.exit_code == 0 and stepped.exit_code == 0, graded.stderr + stepped.stderr
    _, grad_w, grad_b = closed_forms(x, y, W, B)
    np.testing.assert_allclose(graded.json()["grad"]["W"], grad_w, rtol=1e-12)
    np.testing.assert_allclose(stepped.json()["values"]["b"], B - LR * grad_b, rtol=1e-14)
