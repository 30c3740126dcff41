"""`orchard query`'s errors in one line: where in the SQL (sqlglot's or DuckDB's position), and which tables
exist."""

from __future__ import annotations

import re

import duckdb
import sqlglot


def parse_problem(error: sqlglot.errors.SqlglotError) -> str:
    """sqlglot's complaint with its line and column (in the SQL as given)."""
    found = getattr(error, "errors", None)
    if not found:
        return f"cannot read the SQL: {error}"
    first = found[0]
    near = f" near '{first['highlight']}'" if first.get("highlight") else ""
    return f"SQL syntax error at line {first['line']}, column {first['col']}{near}: {first['description']}"


# DuckDB ends a message with the statement's line and a caret under the column: "LINE 1: SELECT ...\n   ^".
_DUCKDB_POSITION = re.compile(r"LINE (\d+): (.*)\n( *)\^")


def engine_problem(error: duckdb.Error, statement: str) -> str:
    """DuckDB's complaint in one line, with the line and column in the statement DuckDB ran (the SQL as
    sqlglot translated it, shown too)."""
    text = str(error)
    description = " ".join(
        line.strip() for line in text.split("\n\nLINE ", 1)[0].splitlines() if line.strip()
    )
    position = _DUCKDB_POSITION.search(text)
    where = ""
    if position:
        line, shown = int(position.group(1)), position.group(2)
        where = f"line {line} of "
        if statement.splitlines()[line - 1 : line] == [shown]:  # DuckDB shortens long lines: no column then
            where = f"line {line}, column {len(position.group(3)) - len(f'LINE {line}: ') + 1} of "
    return f"{description}; {where}the SQL as DuckDB ran it: {statement}"


def known_tables(con: duckdb.DuckDBPyConnection) -> str:
    names = [
        row[0]
        for row in con.execute(
            "SELECT view_name FROM duckdb_views() WHERE NOT internal ORDER BY 1"
        ).fetchall()
    ]
    return "tables: " + (", ".join(names) if names else "none yet")
