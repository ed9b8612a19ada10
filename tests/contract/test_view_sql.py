"""Statements run once per row (`Sql.many`) give the same tables on SQLite and on PostgreSQL,
where inserts and keyed deletes take all their rows in one statement."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest

from ledger.app import Ledger
from projections.db import Sql, _row_statement
from projections.runner import Followers
from tests.contract.views_support import WARREN, sid
from tests.contract.views_support import followers_fixture as _followers  # noqa: F401
from tests.contract.views_support import founded_fixture as _founded  # noqa: F401

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


def test_a_read_sees_one_snapshot_while_a_writer_commits(ledger: Ledger) -> None:
    """A read's statements all see the view as of one moment on both databases: a board
    page's keys, then its rows, are not torn apart by a follower's batch (or a rebuild's
    reset) committed in between."""
    followers = Followers(ledger)
    try:
        view = _table(followers)
        with view.write() as sql:
            sql.many("INSERT INTO z_rows VALUES (?,?,?,?)", ROWS[:1])
        with view.read() as sql:
            before = sql.rows("SELECT id FROM z_rows")
            with view.write() as other:
                other.many("INSERT INTO z_rows VALUES (?,?,?,?)", ROWS[1:])
                other.run("DELETE FROM z_rows WHERE id = ?", ["commitment/a"])
            assert sql.rows("SELECT id FROM z_rows") == before == [{"id": "commitment/a"}]
        assert [row[0] for row in _all(view)] == ["commitment/b", "commitment/c"]
        with view.write() as sql:
            sql.run("DROP TABLE z_rows")
    finally:
        followers.close()


def test_a_read_that_fails_leaves_its_connection_fit_for_writes(ledger: Ledger) -> None:
    """A failed statement ends a read's transaction; the connection goes back to the pool
    with nothing of the read left on it (on PostgreSQL a read is READ ONLY)."""
    followers = Followers(ledger)
    try:
        view = _table(followers)
        missing = r"no such table|does not exist"
        for _ in range(3):  # the pool's connections are reused
            with pytest.raises(Exception, match=missing), view.read() as sql:
                sql.rows("SELECT * FROM no_such_table")
            with view.write() as sql:
                sql.many("INSERT INTO z_rows VALUES (?,?,?,?) ON CONFLICT DO NOTHING", ROWS)
        assert _all(view) == ROWS
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


def _board_statements(
    followers: Followers, monkeypatch: pytest.MonkeyPatch, **query: Any
) -> tuple[list[dict[str, Any]], list[tuple[str, list[Any]]]]:
    """A board page's items, and the statements that read it with their parameters."""
    statements: list[tuple[str, list[Any]]] = []
    rows = Sql.rows

    def recording(sql: Sql, statement: str, params: Any = ()) -> list[dict[str, Any]]:
        statements.append((statement, list(params)))
        return rows(sql, statement, params)

    with monkeypatch.context() as patched:
        patched.setattr(Sql, "rows", recording)
        page = followers.queries.board(**query)
    return page.items, statements


def _plan(followers: Followers, statement: str, params: list[Any]) -> str:
    with followers.views["records"].read() as sql:
        return " ".join(r["detail"] for r in sql.rows(f"EXPLAIN QUERY PLAN {statement}", params))


def test_a_board_page_through_month_slices_reads_one_index_on_sqlite(
    ledger: Ledger, founded: Followers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On SQLite each filter's slice index holds all a board item shows of its row, so a
    page's rows come from one index range and only their records are looked up; on
    PostgreSQL (whose indexes refuse long entries) the page's rows are looked up by key."""
    q = founded.queries
    items, statements = _board_statements(
        founded, monkeypatch, when=q.when(date(2017, 9, 23)), status="open"
    )
    assert items
    [(paged, params)] = [s for s in statements if "FROM v_board_slices b" in s[0]]
    looked_up = [s for s in statements if "JOIN v_board f" in s[0]]
    if founded.views["records"].dialect == "sqlite":
        assert not looked_up
        plan = _plan(founded, paged, params)
        assert "USING COVERING INDEX v_slices_status" in plan, plan
    else:
        assert len(looked_up) == 1


def test_an_overdue_page_through_month_slices_is_one_index_range(
    ledger: Ledger, founded: Followers, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Overdue commitments are unresolved ones, whatever their status: the slices' index of
    unresolved slices gives the page in one range, not one range per status."""
    q = founded.queries
    # As the ledger showed it that day: before the deadline was extended.
    when = q.when(known_at=datetime(2017, 9, 23, 20, tzinfo=UTC))
    items, statements = _board_statements(founded, monkeypatch, when=when, overdue=True)
    assert [item["id"] for item in items] == [sid(WARREN)]
    [(paged, params)] = [s for s in statements if "FROM v_board_slices b" in s[0]]
    if founded.views["records"].dialect == "sqlite":
        plan = _plan(founded, paged, params)
        assert "USING COVERING INDEX v_slices_unresolved" in plan, plan
