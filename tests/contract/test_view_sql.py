"""Statements run once per row (`Sql.many`) give the same tables on SQLite and on PostgreSQL,
where inserts and keyed deletes take all their rows in one statement."""

from __future__ import annotations

from typing import Any

import pytest

from ledger.app import Ledger
from projections.db import _row_statement
from projections.runner import Followers

ROWS = [
    ("commitment/a", 1, "open", None),
    ("commitment/b", 2, "it's 100% done", '{"x": [1, 2]}'),
    ("commitment/c", 3_000_000_000_000, "", None),
]


def _table(followers: Followers) -> Any:
    view = followers.views["records"]
    with view.write() as sql:
        sql.run("DROP TABLE IF EXISTS z_rows")
        sql.run(
            "CREATE TABLE z_rows (id TEXT NOT NULL, n BIGINT NOT NULL, note TEXT NOT NULL, "
            "data TEXT, PRIMARY KEY (id, n))"
        )
    return view


def _all(view: Any) -> list[tuple[Any, ...]]:
    with view.read() as sql:
        return [tuple(r.values()) for r in sql.rows("SELECT * FROM z_rows ORDER BY id, n")]


def test_inserts_upserts_and_keyed_deletes_of_many_rows(ledger: Ledger) -> None:
    followers = Followers(ledger)
    try:
        view = _table(followers)
        with view.write() as sql:
            sql.many("INSERT INTO z_rows VALUES (?,?,?,?)", ROWS)
        assert _all(view) == ROWS
        with view.write() as sql:
            sql.many(
                "INSERT INTO z_rows (id, n, note) VALUES (?, ?, ?) ON CONFLICT (id, n) "
                "DO UPDATE SET note = excluded.note",
                [("commitment/a", 1, "closed"), ("commitment/d", 4, "new")],
            )
            sql.many(
                "INSERT INTO z_rows VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                [ROWS[1], ROWS[1], ("commitment/e", 5, "e", None)],
            )
        assert _all(view) == [
            ("commitment/a", 1, "closed", None),
            *ROWS[1:],
            ("commitment/d", 4, "new", None),
            ("commitment/e", 5, "e", None),
        ]
        with view.write() as sql:
            sql.many(
                "DELETE FROM z_rows WHERE id = ? AND n = ?",
                [("commitment/a", 1), ("commitment/d", 4), ("commitment/zz", 9)],
            )
            sql.many("UPDATE z_rows SET note = ? WHERE id = ?", [("set", "commitment/e")])
        assert _all(view) == [*ROWS[1:], ("commitment/e", 5, "set", None)]
        with view.write() as sql:
            sql.run("DROP TABLE z_rows")
    finally:
        followers.close()


@pytest.mark.parametrize(
    ("query", "shape"),
    [
        ("INSERT INTO t VALUES (?,?)", ("insert", "t", None, "")),
        (
            "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO NOTHING",
            ("insert", "t", ["a", "b"], " ON CONFLICT (a) DO NOTHING"),
        ),
        ("DELETE FROM t WHERE a=? AND b = ?", ("delete", "t", ["a", "b"], "")),
        ("UPDATE t SET a = ? WHERE b = ?", None),
        ("INSERT INTO t VALUES (?,?) ON CONFLICT (a) DO UPDATE SET b = ?", None),
        ("DELETE FROM t WHERE a = ? OR b = ?", None),
    ],
)
def test_which_statements_take_many_rows_at_once(query: str, shape: Any) -> None:
    assert _row_statement(query) == shape


def test_board_tables_are_kept_in_key_order_on_sqlite(ledger: Ledger) -> None:
    """A board page reads its rows, records and slices by key: on SQLite each is one B-tree
    (WITHOUT ROWID); PostgreSQL takes the same tables as they are written."""
    followers = Followers(ledger)
    try:
        view = followers.views["records"]
        clustered = {"v_records", "v_board", "v_board_slices"}
        if view.dialect == "sqlite":
            with view.read() as sql:
                ddl = {
                    r["name"]: r["sql"]
                    for r in sql.rows("SELECT name, sql FROM sqlite_master WHERE type = 'table'")
                }
            assert {t for t, s in ddl.items() if s.endswith("WITHOUT ROWID")} >= clustered
            assert not ddl["v_cfacts"].endswith("WITHOUT ROWID")
        else:
            assert not [s for s in view.ddl() if "WITHOUT ROWID" in s]
    finally:
        followers.close()
