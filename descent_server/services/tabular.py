"""Parse uploaded tables (CSV bytes, JSON columns) into named numpy columns, naming bad cells."""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from descent_server.services.errors import InvalidInput

# A column name can become a run's feature or target, stored in a String(200) column.
COLUMN_NAME_MAX = 200
# C0 control characters and DEL: refused in every name and string cell (see schemas/common).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_MSG = "control characters (U+0000-U+001F, U+007F) are not allowed"
_FLOAT_MAX = float(np.finfo(np.float64).max)
_FORMULA_STARTS = frozenset("=+-@\t\r")


@dataclass(frozen=True)
class Limits:
    """What an upload may hold (from settings)."""

    max_rows: int
    max_columns: int
    max_field_length: int


def parse_csv(data: bytes, *, limits: Limits) -> dict[str, np.ndarray]:
    """Parse strict UTF-8 CSV with a header row; numeric columns must be finite everywhere."""
    text = _decode(data)
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    header = _read_header(reader, limits)
    cells: list[list[str]] = [[] for _ in header]
    lines: list[int] = []  # the file line of each data row, for error messages
    try:
        for row in reader:
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank lines (e.g. a trailing newline) carry no data
            line = reader.line_num
            if len(row) != len(header):
                raise _at(line, None, f"has {len(row)} fields, the header has {len(header)}")
            if len(cells[0]) >= limits.max_rows:
                raise InvalidInput.at(["file"], f"more than {limits.max_rows} rows")
            for index, value in enumerate(row):
                if len(value) > limits.max_field_length:
                    raise _at(line, header[index], f"longer than {limits.max_field_length} chars")
                cells[index].append(value.strip())
            lines.append(line)
    except csv.Error as exc:
        raise _at(reader.line_num, None, f"malformed CSV: {exc}") from None
    if not cells[0]:
        raise InvalidInput.at(["file"], "no data rows after the header")
    return {
        name: _typed_column(name, values, lines) for name, values in zip(header, cells, strict=True)
    }


def parse_json_columns(
    columns: Mapping[str, Sequence[Any]], *, limits: Limits
) -> dict[str, np.ndarray]:
    """Check JSON columns (equal lengths, all numbers finite or all strings) and convert them."""
    loc: list[str | int] = ["body", "columns"]
    if not columns:
        raise InvalidInput.at(loc, "at least one column is required")
    if len(columns) > limits.max_columns:
        raise InvalidInput.at(loc, f"more than {limits.max_columns} columns")
    lengths = {len(values) for values in columns.values()}
    if len(lengths) != 1:
        raise InvalidInput.at(loc, f"columns have different lengths: {sorted(lengths)}")
    n_rows = lengths.pop()
    if n_rows == 0:
        raise InvalidInput.at(loc, "columns are empty")
    if n_rows > limits.max_rows:
        raise InvalidInput.at(loc, f"more than {limits.max_rows} rows")
    result: dict[str, np.ndarray] = {}
    for name, values in columns.items():
        _check_name(name, [*loc, name], limits)
        numeric = _is_number(values[0])
        for index, value in enumerate(values):
            where = [*loc, name, index]
            if numeric and not _is_number(value):
                raise InvalidInput.at(where, "expected a number like the column's first value")
            if numeric and not _finite(value):
                raise InvalidInput.at(where, "not a finite number (or too large for a float64)")
            if not numeric and not isinstance(value, str):
                raise InvalidInput.at(where, "expected a string like the column's first value")
            if not numeric and not value.strip():
                raise InvalidInput.at(where, "empty value")
            if not numeric and len(value) > limits.max_field_length:
                raise InvalidInput.at(where, f"longer than {limits.max_field_length} chars")
            if not numeric and _CONTROL.search(value):
                raise InvalidInput.at(where, _CONTROL_MSG)
        result[name] = np.asarray(values, dtype=np.float64 if numeric else str)
    return result


def escape_formula(cell: str) -> str:
    """Prefix a text cell a spreadsheet would run as a formula with ' (OWASP CSV injection)."""
    # A number is never a formula, "-3" included: only text that starts like one is escaped.
    if cell[:1] in _FORMULA_STARTS and not _parses(cell):
        return "'" + cell
    return cell


def _decode(data: bytes) -> str:
    """Decode strict UTF-8 (a BOM is allowed), naming the row of the first bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        row = data[: exc.start].count(b"\n") + 1
        byte = data[exc.start : exc.start + 1].hex()
        raise InvalidInput.at(["file", f"row {row}"], f"not UTF-8 (byte 0x{byte})") from None


def _read_header(reader: Any, limits: Limits) -> list[str]:
    """Read and check the header row: names present, unique, short, not all numbers."""
    try:
        header = next(reader, None)
    except csv.Error as exc:
        raise _at(1, None, f"malformed CSV: {exc}") from None
    if not header or not any(cell.strip() for cell in header):
        raise InvalidInput.at(["file"], "empty file: a header row is required")
    names = [cell.strip() for cell in header]
    if len(names) > limits.max_columns:
        raise InvalidInput.at(["file", "row 1"], f"more than {limits.max_columns} columns")
    if all(_parses(name) for name in names):
        raise InvalidInput.at(["file", "row 1"], "a header row is required (this row is numbers)")
    for index, name in enumerate(names):
        _check_name(name, ["file", "row 1", f"column {index + 1}"], limits)
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise _at(1, name, "duplicate column name")
        seen.add(name)
    return names


def _check_name(name: str, loc: list[str | int], limits: Limits) -> None:
    """Reject empty, overlong or unprintable column names."""
    if not name.strip():
        raise InvalidInput.at(loc, "empty column name")
    longest = min(limits.max_field_length, COLUMN_NAME_MAX)
    if len(name) > longest:
        raise InvalidInput.at(loc, f"column name longer than {longest} chars")
    if _CONTROL.search(name):
        raise InvalidInput.at(loc, _CONTROL_MSG)


def _typed_column(name: str, values: list[str], lines: list[int]) -> np.ndarray:
    """Return float64 if the first cell is a number (then every cell must be), else strings."""
    if not _parses(values[0]):
        for index, value in enumerate(values):
            if not value:
                raise _at(lines[index], name, "empty cell")
            if _CONTROL.search(value):
                raise _at(lines[index], name, _CONTROL_MSG)
        return np.asarray(values, dtype=str)
    try:
        numbers = np.asarray(values, dtype=np.float64)
    except ValueError:
        # Slow path, only to name the bad cell (or parse what numpy refuses, e.g. "1_000").
        for index, value in enumerate(values):
            if not _parses(value):
                shown = repr(value) if value else "empty cell"
                raise _at(lines[index], name, f"not a number: {shown}") from None
        numbers = np.asarray([float(value) for value in values], dtype=np.float64)
    bad = ~np.isfinite(numbers)
    if bad.any():
        index = int(np.argmax(bad))
        raise _at(lines[index], name, f"not a finite number: {values[index]!r}")
    return numbers


def _parses(value: str) -> bool:
    """True when the cell reads as a float (finite or not)."""
    try:
        float(value)
    except ValueError:
        return False
    return True


def _finite(value: int | float) -> bool:
    """True for a number a float64 holds finitely (a 400-digit JSON integer does not)."""
    if isinstance(value, int):
        return abs(value) <= _FLOAT_MAX
    return math.isfinite(value)


def _is_number(value: Any) -> bool:
    """True for JSON numbers (bools are not numbers here)."""
    return isinstance(value, int | float) and not isinstance(value, bool)


def _at(row: int, column: str | None, msg: str) -> InvalidInput:
    """Build an error located at a CSV row (1 = header) and optionally a column."""
    loc = ["file", f"row {row}"] + ([f"column {column}"] if column is not None else [])
    return InvalidInput.at(loc, msg)
