"""Every form of `--at NAME=VALUE` and its error paths: expressions, constructors, --seed and @files."""

from __future__ import annotations

import json
import math
import io
import pickle

import numpy as np
import pytest

from adcli.language import bindings


def value_of(cli, *at: str, seed: int | None = None):
    """The bound value of v, through `adcli eval v --at ... --format json`."""
    args = ["eval", "v"] + [item for binding in at for item in ("--at", binding)] + ["--format", "json"]
    if seed is not None:
        args += ["--seed", str(seed)]
    run = cli(*args)
    assert run.exit_code == 0, run.stderr
    return run.json()["value"]


def error_of(cli, *at: str) -> str:
    """The stderr of a command that must fail with exit 1, one `adcli: error:` and no traceback."""
    run = cli("eval", "v", *[item for binding in at for item in ("--at", binding)])
    assert run.exit_code == 1, run.stdout
    assert run.stdout == ""
    assert run.stderr.startswith("adcli: error: ") and "Traceback" not in run.stderr
    return run.stderr


# -- constant expressions ----------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("2", 2.0), ("-0.5", -0.5), ("pi/4", math.pi / 4), ("2^-1", 0.5), ("[1, 2, 3]", [1.0, 2.0, 3.0]),
    ("[[0.4176, 0.2302], [-0.3258, 0.0489]]", [[0.4176, 0.2302], [-0.3258, 0.0489]]),
    ("[1, 2] * 2 + sum([1, 1])", [4.0, 6.0]), ("exp(1)", math.e), ("[pi, e].T", [math.pi, math.e]),
])
def test_constant_expressions(cli, text, expected):
    np.testing.assert_allclose(value_of(cli, f"v={text}"), expected, rtol=1e-15)


@pytest.mark.parametrize("text, expected", [
    ("nan", "nan"), ("NaN", "nan"), ("inf", "inf"), ("-inf", "-inf"), ("+Infinity", "inf"), ("-INF", "-inf"),
])
def test_nan_and_inf_are_values_as_in_a_points_file(cli, text, expected):
    assert value_of(cli, f"v={text}") == expected


def test_nan_and_inf_are_not_names_in_expressions(cli):
    assert "a value cannot use the variable 'inf'" in error_of(cli, "v=2*inf")


def test_several_bindings_in_one_option_with_commas_inside_brackets(cli):
    run = cli("eval", "sum(x) + y + z", "--at", "x=[1, 2, 3],y=max(4, 5)", "--at", "z=linspace(0, 1, 2)",
              "--format", "json")
    assert run.exit_code == 0, run.stderr
    assert run.json()["value"] == [11.0, 12.0]


def test_where_in_the_text_wins_over_at(cli):
    run = cli("eval", "x + 1 where x = 10", "--at", "x=1", "--format", "plain")
    assert run.stdout.split() == ["11.0"]


@pytest.mark.parametrize("at, words", [
    (["v=1", "v=2"], ["'v'", "twice"]),
    (["pi=3"], ["'pi'", "constant"]),
    (["sin=3"], ["'sin'", "function"]),
    (["v="], ["v", "needs a value"]),
    (["3v=1"], ["NAME=VALUE"]),
    (["v=x + 1"], ["--at v", "variable 'x'"]),
    (["v=[1, 2, 3] + [1, 2]"], ["--at v", "'+'", "(3,)", "(2,)"]),
    (["v=(1 + 2"], ["--at v", "missing ')'"]),
])
def test_binding_errors(cli, at, words):
    stderr = error_of(cli, *at)
    assert all(word in stderr for word in words), stderr


def test_an_unbound_variable_is_named(cli):
    run = cli("eval", "x + y", "--at", "x=1")
    assert run.exit_code == 1 and "'y'" in run.stderr


# -- constructors --------------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("linspace(0, 1, 5)", np.linspace(0, 1, 5)),
    ("linspace(-pi, pi, 3)", np.linspace(-math.pi, math.pi, 3)),
    ("arange(4)", np.arange(4.0)),
    ("arange(1, 3)", np.arange(1.0, 3.0)),
    ("arange(0, 1, 0.25)", np.arange(0.0, 1.0, 0.25)),
    ("zeros(2, 3)", np.zeros((2, 3))),
    ("zeros([2, 3])", np.zeros((2, 3))),
    ("ones(3)", np.ones(3)),
    ("ones(2, 1, 2)", np.ones((2, 1, 2))),
    ("2 ones(2) + 1", np.full(2, 3.0)),
])
def test_constructors(cli, text, expected):
    assert value_of(cli, f"v={text}") == expected.tolist()


@pytest.mark.parametrize("function, low, high", [("rand", 0.0, 1.0), ("randn", -np.inf, np.inf)])
def test_random_constructors_have_the_shape_and_follow_the_seed(cli, function, low, high):
    first = np.array(value_of(cli, f"v={function}(4, 3)", seed=7))
    again = np.array(value_of(cli, f"v={function}(4, 3)", seed=7))
    other = np.array(value_of(cli, f"v={function}(4, 3)", seed=8))
    assert first.shape == (4, 3)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert np.all((first >= low) & (first < high))
    assert len(np.unique(first)) == first.size


def test_random_values_in_one_command_come_from_one_stream(cli):
    run = cli("eval", "[a, b]", "--at", "a=rand(3)", "--at", "b=rand(3)", "--seed", "1", "--format", "json")
    a, b = run.json()["value"]
    assert a != b


@pytest.mark.parametrize("text, words", [
    ("linspace(0, 1)", ["linspace(start, stop, count)", "got 2 arguments"]),
    ("linspace(0, 1, 2.5)", ["whole numbers", "2.5"]),
    ("arange(0, 1, 0)", ["step must not be 0"]),
    ("arange(1, 2, 3, 4)", ["arange(stop)"]),
    ("zeros(-1)", ["whole numbers", "-1"]),
    ("ones(1.5, 2)", ["whole numbers", "1.5"]),
    ("zeros([[2]])", ["whole numbers", "array"]),
    ("randn(0.5)", ["whole numbers"]),
    ("linspace(0, 1, n)", ["variable 'n'"]),
])
def test_constructor_errors(cli, text, words):
    stderr = error_of(cli, f"v={text}")
    assert "--at v" in stderr and all(word in stderr for word in words), stderr
    assert "^" in stderr  # a caret under the call


def test_negative_seed_is_command_line_misuse(cli):
    run = cli("eval", "v", "--at", "v=rand(2)", "--seed", "-1")
    assert run.exit_code == 2 and "--seed" in run.stderr


def test_constructor_names_match_the_parsers_list():
    from adcli.language.parser import CONSTRUCTOR_NAMES
    assert set(bindings.constructors(lambda: None)) == CONSTRUCTOR_NAMES


# -- @files --------------------------------------------------------------------------------

def write(path, content):
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")
    return path


@pytest.mark.parametrize("array", [np.arange(6.0).reshape(2, 3) / 7, np.array(2.5), np.arange(4), np.array([True, False]),
                                   np.linspace(-1, 1, 5).astype(np.float32), np.asfortranarray(np.eye(3))])
def test_npy_files(cli, tmp_path, array):
    path = tmp_path / "a.npy"
    np.save(path, array)
    assert value_of(cli, f"v=@{path}") == array.astype(np.float64).tolist()


@pytest.mark.parametrize("text, expected", [
    ("1,2,3\n4,5,6\n", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
    ("1 2 3\n4\t5  6\n", [[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]),
    ("1, 2 ,3\n", [1.0, 2.0, 3.0]),  # one line: 1-D, as numpy.loadtxt
    ("1\n2\n3\n", [1.0, 2.0, 3.0]),  # one column: 1-D, as numpy.loadtxt
    ("42\n", 42.0),
    ("# header comment, with a comma\n1 2\n\n3 4  # trailing comment\n", [[1.0, 2.0], [3.0, 4.0]]),
    ("\ufeff1.5,-2e-3\r\n3,4\r\n", [[1.5, -0.002], [3.0, 4.0]]),
    ("nan,inf,-inf\n", ["nan", "inf", "-inf"]),
])
@pytest.mark.parametrize("suffix", [".csv", ".txt"])
def test_text_files_follow_numpy_loadtxt(cli, tmp_path, text, expected, suffix):
    path = write(tmp_path / f"data{suffix}", text)
    assert value_of(cli, f"v=@{path}") == expected


@pytest.mark.parametrize("content, expected", [
    ("3.5", 3.5), ("[1, 2.5, -3]", [1.0, 2.5, -3.0]), ("[[1, 2], [3, 4]]", [[1.0, 2.0], [3.0, 4.0]]),
    ('["nan", "inf", "-inf", 1e400]', ["nan", "inf", "-inf", "inf"]), ("[]", []),
])
def test_json_files(cli, tmp_path, content, expected):
    path = write(tmp_path / "data.json", content)
    assert value_of(cli, f"v=@{path}") == expected


def test_adcli_json_output_reads_back_as_a_json_file(cli, tmp_path):
    run = cli("grad", "log(x)", "--at", "x=[[1, 0], [-1, 2]]", "--format", "json")
    path = write(tmp_path / "out.json", json.dumps(run.json()["grad"]["x"]))
    assert value_of(cli, f"v=@{path}") == [[1.0, "inf"], [-1.0, 0.5]]


def test_file_bindings_mix_with_others_and_home_expands(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    np.save(tmp_path / "w.npy", np.array([1.0, 2.0]))
    run = cli("eval", "w @ x", "--at", "w=@~/w.npy,x=[3, 4]", "--format", "plain")
    assert run.exit_code == 0, run.stderr
    assert run.stdout.split() == ["11.0"]


FILE_ERRORS = [
    ("missing.csv", None, ["missing.csv", "No such file"]),
    ("data.dat", "1 2", ["data.dat", "unknown file type '.dat'", ".npy, .csv, .txt or .json"]),
    ("data", "1 2", ["'", "without an extension"]),
    ("ragged.csv", "1,2,3\n4,5\n", ["ragged.csv", "line 2 has 2 numbers but line 1 has 3"]),
    ("ragged.txt", "1 2\n\n3 4 5\n", ["ragged.txt", "line 3 has 3 numbers but line 1 has 2"]),
    ("cells.csv", "1,2\n3,abc\n", ["cells.csv", "line 2", "'abc' is not a number"]),
    ("half_header.csv", "x,2\n1,2\n", ["half_header.csv", "line 1", "'x' is not a number"]),
    ("empty_cell.csv", "1,,3\n", ["empty_cell.csv", "line 1", "empty cell"]),
    ("mixed.csv", "1, 2 3\n", ["mixed.csv", "'2 3' is not a number"]),
    ("empty.csv", "", ["empty.csv", "no numbers"]),
    ("comments.txt", "# nothing here\n", ["comments.txt", "no numbers"]),
    ("latin1.csv", b"1,2\n\xe9\n", ["latin1.csv", "UTF-8"]),
    ("ragged.json", "[[1, 2], [3]]", ["ragged.json", "ragged"]),
    ("strings.json", '[1, "2"]', ["strings.json", '"2"', "not a number"]),
    ("bool.json", "[true, 1]", ["bool.json", "true", "not a number"]),
    ("null.json", "null", ["null.json", "null"]),
    ("object.json", '{"a": 1}', ["object.json", "not a number"]),
    ("broken.json", "[1, 2", ["broken.json", "not valid JSON"]),
    ("deep.json", "[" * 100_000 + "]" * 100_000, ["deep.json", "nested"]),
    ("deeper.json", "[" * 70 + "1" + "]" * 70, ["deeper.json", "more than 64"]),
    ("huge.json", "[1" + "0" * 400 + "]", ["huge.json", "too large"]),
    ("text.npy", "1 2 3", ["text.npy", "not a NumPy .npy file"]),
    ("pickle.npy", pickle.dumps([1, 2]), ["pickle.npy", "not a NumPy .npy file"]),
]


@pytest.mark.parametrize("name, content, words", FILE_ERRORS)
def test_file_errors_name_the_file(cli, tmp_path, name, content, words):
    path = tmp_path / name
    if content is not None:
        write(path, content)
    stderr = error_of(cli, f"v=@{path}")
    assert "--at v" in stderr and all(word in stderr for word in words), stderr


def test_pickled_object_array_is_refused_without_unpickling(cli, tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    stderr = error_of(cli, f"v=@{path}")
    assert "objects.npy" in stderr and "pickle" in stderr


def test_complex_npy_is_refused(cli, tmp_path):
    path = tmp_path / "complex.npy"
    np.save(path, np.array([1 + 2j]))
    stderr = error_of(cli, f"v=@{path}")
    assert "complex.npy" in stderr and "complex128" in stderr


def test_a_directory_is_not_a_file(cli, tmp_path):
    folder = tmp_path / "folder.csv"
    folder.mkdir()
    stderr = error_of(cli, f"v=@{folder}")
    assert "folder.csv" in stderr


def test_at_sign_without_a_name(cli):
    assert "needs a file name" in error_of(cli, "v=@")


def npy_header(shape, descr="<f8", version=(1, 0)) -> bytes:
    header = io.BytesIO()
    writer = np.lib.format.write_array_header_1_0 if version == (1, 0) else np.lib.format.write_array_header_2_0
    writer(header, {"descr": descr, "fortran_order": False, "shape": shape})
    return header.getvalue()


@pytest.mark.parametrize("shape, data, words", [
    ((10 ** 11,), b"\0" * 16, ["(100000000000,)", "800000000000 bytes", "16 bytes follow"]),  # 128 bytes asking for 745 GB
    ((3,), b"\0" * 16, ["(3,)", "24 bytes", "16 bytes follow"]),  # cut short
    ((2,), b"\0" * 24, ["(2,)", "16 bytes", "24 bytes follow"]),  # more than it says
    ((2 ** 62, 2 ** 62), b"", ["bytes follow"]),  # a size no C integer holds
])
def test_an_npy_header_that_does_not_match_its_bytes_is_refused_before_reading(cli, tmp_path, shape, data, words):
    path = tmp_path / "claims.npy"
    path.write_bytes(npy_header(shape) + data)
    stderr = error_of(cli, f"v=@{path}")
    assert "claims.npy" in stderr and all(word in stderr for word in words), stderr


def test_an_npy_of_version_2_loads(cli, tmp_path):
    path = tmp_path / "two.npy"
    path.write_bytes(npy_header((2,), version=(2, 0)) + np.array([1.5, 2.5]).tobytes())
    run = cli("eval", "sum(v)", "--at", f"v=@{path}")
    assert run.exit_code == 0 and "4.0" in run.stdout


def test_a_csv_file_behind_at_takes_ascii_digits_only(tmp_path):
    from adcli.errors import AdcliError
    from adcli.language.bindings import load_file

    path = tmp_path / "v.csv"
    path.write_text("1,\u0661\n", encoding="utf-8")
    with pytest.raises(AdcliError, match="is not a number"):
        load_file(str(path))
