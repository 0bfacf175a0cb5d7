"""A table tool: questions over one CSV or Parquet file, answered with whitelisted pandas ops.

The model never writes code or a query string. It picks an operation from a fixed
list (``OPS``), a column and an optional group-by column, and the schema the
agent's grammar is built from lists the file's real column names, so a call can
only name columns that exist. The file is chosen by the user when the tool is
made, never by the model. pandas is imported when the table is first read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from heron.chains.agents.tools import Tool, ToolExample
from heron.errors import ConfigError, InputError, missing_extra

#: operations the model may choose
OPS = ("mean", "median", "sum", "min", "max", "count", "nunique", "value_counts", "columns", "head")
#: operations that need a numeric column
NUMERIC_OPS = ("mean", "median", "sum", "min", "max")
MAX_FILE_BYTES = 500 * 1024 * 1024
MAX_ROWS_SHOWN = 20
NONE = ""


def read_table(path: Path) -> Any:
    """A pandas DataFrame from a .csv/.tsv/.parquet file."""
    try:
        import pandas as pd  # type: ignore[import-untyped, unused-ignore]
    except ImportError as exc:
        raise missing_extra("pandas", "tables") from exc
    if not path.is_file():
        raise ConfigError(
            f"table {path} does not exist", hint="pass the path of a CSV or Parquet file"
        )
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError(f"table {path} is larger than {MAX_FILE_BYTES // 2**20} MB")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            return pd.read_parquet(path)
        if suffix in (".csv", ".tsv", ".txt"):
            return pd.read_csv(path, sep="\t" if suffix == ".tsv" else ",")
    except ImportError as exc:
        raise missing_extra("pyarrow", "tables") from exc
    except (ValueError, OSError) as exc:
        raise ConfigError(f"cannot read table {path}: {exc}") from exc
    raise ConfigError(f"table {path} is not .csv, .tsv or .parquet", hint="convert it to CSV")


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


class TableTool(Tool):
    """Answers questions about one table with whitelisted pandas operations."""

    name = "table"

    def __init__(self, path: str | Path, name: str = "table") -> None:
        self.path = Path(path).expanduser()
        self.name = name
        self._frame: Any = None
        self.columns: list[str] = [str(c) for c in self.frame.columns]
        self.description = (
            f"compute over the table {self.path.name} ({len(self.frame)} rows): op is one of "
            f"{', '.join(OPS)}; column is the column to compute on; by is a column to group by "
            f'("" for none). Columns: {", ".join(self.columns)}'
        )
        choices = [*self.columns, NONE]
        self.parameters = {
            "type": "object",
            "properties": {
                "op": {"enum": list(OPS)},
                "column": {"enum": choices},
                "by": {"enum": choices, "default": NONE},
            },
            "required": ["op", "column"],
        }

    @property
    def example(self) -> ToolExample | None:  # type: ignore[override]
        """A worked call on this very table: the median of a numeric column by a grouping one."""
        numeric = [c for c in self.columns if _is_numeric(self.frame[c])]
        groups = [c for c in self.columns if not _is_numeric(self.frame[c])]
        if not numeric or not groups:
            return None
        column, by = numeric[-1], groups[0]
        observation = self.run(op="median", column=column, by=by)
        words = f"{column.replace('_', ' ')} by {by.replace('_', ' ')}"
        return ToolExample(
            f"What is the median {words}?",
            {"op": "median", "column": column, "by": by},
            observation,
            observation,
        )

    @property
    def frame(self) -> Any:
        if self._frame is None:
            self._frame = read_table(self.path)
        return self._frame

    def run(self, **args: Any) -> str:
        op, column, by = str(args.get("op", "")), str(args.get("column", "")), args.get("by", NONE)
        by = str(by or NONE)
        if op not in OPS:
            raise InputError(
                f"unknown table operation '{op[:40]}'", hint=f"use one of {', '.join(OPS)}"
            )
        for name in (column, by):
            if name and name not in self.columns:
                raise InputError(
                    f"the table has no column '{name[:60]}'",
                    hint=f"columns: {', '.join(self.columns)}",
                )
        if op == "columns":
            return ", ".join(f"{c} ({self.frame[c].dtype})" for c in self.columns)
        if op == "head":
            return str(self.frame.head(5).to_string(max_colwidth=30))
        if not column:
            raise InputError(
                f"operation '{op}' needs a column", hint=f"columns: {', '.join(self.columns)}"
            )
        return self._compute(op, column, by)

    def _compute(self, op: str, column: str, by: str) -> str:
        series = self.frame[column]
        if op in NUMERIC_OPS and not _is_numeric(series):
            raise InputError(
                f"column '{column}' is not numeric, so '{op}' does not apply",
                hint="use count, nunique or value_counts on it",
            )
        if op == "value_counts":
            counts = series.value_counts().head(MAX_ROWS_SHOWN)
            return "; ".join(f"{k}: {v}" for k, v in counts.items())
        if not by:
            return f"{op} of {column}: {_fmt(getattr(series, op)())}"
        grouped = getattr(self.frame.groupby(by)[column], op)()
        rows = list(grouped.items())[:MAX_ROWS_SHOWN]
        return f"{op} of {column} by {by}: " + "; ".join(f"{k}: {_fmt(v)}" for k, v in rows)


def _is_numeric(series: Any) -> bool:
    kind = getattr(series.dtype, "kind", "O")
    return kind in "iufb"
