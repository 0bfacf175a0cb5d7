"""Built-in tools: the calculator, the table tool, the sandboxed Python tool, search."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from heron.chains.agents import CalculatorTool, PythonTool, SearchTool, TableTool, calculate
from heron.errors import ConfigError, HeronTimeout, InputError
from heron.store import open_store


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("17 * 23", 391),
        ("(45 + 55) / 4", 25.0),
        ("2^10", 1024),
        ("2 ** 0.5 * sqrt(2)", pytest.approx(2.0)),
        ("-3 + +4 % 3", -2),
        ("max(1, 7, 3) - abs(-2)", 5),
        ("12 × 3 =", 36),
    ],
)
def test_calculator_computes_arithmetic(expression: str, value: float) -> None:
    assert calculate(expression) == value


@pytest.mark.parametrize(
    "expression",
    [
        "__import__('os').system('cat /etc/passwd')",
        "open('/etc/passwd').read()",
        "().__class__.__bases__[0]",
        "[x for x in range(10)]",
        "lambda: 1",
        "a + 1",
        "'text' * 3",
        "9 ** 9 ** 9",
        "10 ** 200",
        "1 / 0",
        "",
        "1 +",
    ],
)
def test_calculator_refuses_anything_but_arithmetic(expression: str) -> None:
    start = time.perf_counter()
    with pytest.raises(InputError):
        calculate(expression)
    assert time.perf_counter() - start < 1


def test_calculator_tool_formats_numbers() -> None:
    tool = CalculatorTool()
    assert tool.run(expression="10 / 4") == "2.5"
    assert tool.run(expression="6 * 7") == "42"
    assert tool.run(expression="2 / 3") == "0.666667"


@pytest.fixture
def salaries(tmp_path: Path) -> Path:
    path = tmp_path / "salaries.csv"
    rows = ["level,salary,city"]
    data = [("EN", 50), ("EN", 70), ("SE", 100), ("SE", 140), ("SE", 120), ("MI", 80)]
    rows += [f"{level},{salary},c{i % 2}" for i, (level, salary) in enumerate(data)]
    path.write_text("\n".join(rows) + "\n")
    return path


def test_table_tool_answers_with_whitelisted_operations(salaries: Path) -> None:
    pd = pytest.importorskip("pandas")
    tool = TableTool(salaries)
    frame = pd.read_csv(salaries)
    assert tool.columns == ["level", "salary", "city"]
    assert tool.parameters["properties"]["column"]["enum"] == ["level", "salary", "city", ""]
    assert tool.run(op="mean", column="salary") == f"mean of salary: {frame.salary.mean():.2f}"
    grouped = tool.run(op="mean", column="salary", by="level")
    assert grouped == "mean of salary by level: EN: 60.00; MI: 80.00; SE: 120.00"
    assert tool.run(op="count", column="city", by="") == "count of city: 6"
    assert tool.run(op="value_counts", column="level") == "SE: 3; EN: 2; MI: 1"
    assert "salary (int64)" in tool.run(op="columns", column="")


def test_table_tool_refuses_unknown_columns_ops_and_non_numeric_means(salaries: Path) -> None:
    pytest.importorskip("pandas")
    tool = TableTool(salaries)
    with pytest.raises(InputError, match="no column '/etc/passwd'"):
        tool.run(op="mean", column="/etc/passwd")
    with pytest.raises(InputError, match="unknown table operation"):
        tool.run(op="__import__('os').system('id')", column="salary")
    with pytest.raises(InputError, match="bad arguments"):
        tool.check_args({"op": "eval", "column": "salary"})
    with pytest.raises(InputError, match="not numeric"):
        tool.run(op="mean", column="city")


def test_table_tool_reads_parquet_and_refuses_other_files(tmp_path: Path, salaries: Path) -> None:
    pd = pytest.importorskip("pandas")
    pytest.importorskip("pyarrow")
    parquet = tmp_path / "t.parquet"
    pd.read_csv(salaries).to_parquet(parquet)
    assert TableTool(parquet).run(op="max", column="salary") == "max of salary: 140"
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(ConfigError, match="not .csv"):
        TableTool(tmp_path / "x.json")
    with pytest.raises(ConfigError, match="does not exist"):
        TableTool(tmp_path / "missing.csv")


def test_search_tool_returns_numbered_passages(tmp_path: Path) -> None:
    store = open_store(tmp_path / "home")
    col = store.create_collection("kb", embedder="hash:32", metric="cosine")
    col.add(["a", "b"], documents=["shlex splits shell lines", "json parses text"])
    tool = SearchTool(col, k=1)
    assert tool.run(query="shlex splits shell lines").startswith("[1] a: shlex splits")
    with pytest.raises(InputError):
        tool.run(query=" ")
    store.close()


def test_python_tool_is_off_unless_enabled() -> None:
    with pytest.raises(ConfigError, match="is off"):
        PythonTool()


@pytest.fixture
def python_tool() -> PythonTool:
    tool = PythonTool(enabled=True, timeout_s=2)
    yield tool  # type: ignore[misc]
    tool.close()


def test_python_tool_runs_code_and_keeps_a_scratch_folder(python_tool: PythonTool) -> None:
    assert python_tool.run(code="import json, math\nprint(json.dumps([math.sqrt(16)]))") == "[4.0]"
    python_tool.run(code="open('notes.txt', 'w').write('kept')")
    assert python_tool.run(code="print(open('notes.txt').read())") == "kept"
    assert (python_tool.scratch / "notes.txt").read_text() == "kept"


@pytest.mark.parametrize(
    ("code", "message"),
    [
        ("print(open('/etc/passwd').read())", "open /etc/passwd is not allowed"),
        ("from pathlib import Path\nprint(Path('/etc/passwd').read_text())", "/etc/passwd"),
        ("print(open('../../../../etc/passwd').read())", "/etc/passwd is not allowed"),
        ("import os\nprint(os.listdir('/'))", "os.listdir / is not allowed"),
        ("import os\nos.symlink('/etc/passwd', 'x')", "os.symlink is not allowed"),
        ("open('/tmp/heron-escaped', 'w').write('x')", "is not allowed"),
        ("import socket\nsocket.create_connection(('1.1.1.1', 80))", "importing socket"),
        ("import urllib.request\nurllib.request.urlopen('http://x')", "not allowed"),
        ("import os\nwhile True:\n    os.fork()", "os.fork is not allowed"),
        ("import subprocess\nsubprocess.run(['id'])", "importing subprocess"),
        ("import os\nos.system('id')", "os.system is not allowed"),
        ("import ctypes", "importing ctypes"),
        ("import builtins\nbuiltins.isinstance = lambda *a: True\nopen('/etc/passwd')", "passwd"),
        ("x = bytearray(1024 ** 3)", "MemoryError"),
    ],
)
def test_python_tool_sandbox_refuses_escapes(
    python_tool: PythonTool, code: str, message: str
) -> None:
    with pytest.raises(InputError) as info:
        python_tool.run(code=code)
    assert message in str(info.value)
    assert not Path("/tmp/heron-escaped").exists()


def test_python_tool_stops_code_that_runs_too_long(python_tool: PythonTool) -> None:
    start = time.perf_counter()
    with pytest.raises(HeronTimeout, match="longer than 2 s"):
        python_tool.run(code="while True:\n    pass")
    assert time.perf_counter() - start < 10


def test_python_tool_bounds_output(python_tool: PythonTool) -> None:
    with pytest.raises(InputError, match="File too large|file size"):
        python_tool.run(code="print('x' * 10 ** 8)")
