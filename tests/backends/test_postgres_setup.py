"""`tether db init` and opening a PostgreSQL store: creation, migration, and one clear
line (exit 2, password masked) for every way the URL or the server can be wrong."""

from __future__ import annotations

import pytest

from runtime.backends.postgres.schema import VERSION
from tests.backends.pg import SERVER, pg_schema, pg_url, require_server
from tether.cli import main

__all__ = ["pg_schema", "pg_url"]



def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(argv)
    out, err = capsys.readouterr()
    return code, out, err


def one_error_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("error: "), err
    assert "Traceback" not in err and "internal error" not in err
    return lines[0]


def test_init_creates_then_finds_the_schema(pg_url: str, pg_schema: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(["db", "init", "--store", pg_url], capsys)
    assert (code, err) == (0, "")
    assert f"created schema {pg_schema} (version {VERSION})" in out
    code, out, err = run(["db", "init", "--store", pg_url], capsys)
    assert (code, err) == (0, "")
    assert f"up to date (version {VERSION})" in out
    import psycopg

    with psycopg.connect(SERVER) as conn:
        tables = {r[0] for r in conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
            (pg_schema,))}
    assert {"instances", "journal", "inbox", "work_items", "generations",
            "schema_version"} <= tables


def test_init_reads_the_store_from_the_environment(pg_url: str, capsys: pytest.CaptureFixture[str],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TETHER_STORE", pg_url)
    code, out, _ = run(["db", "init"], capsys)
    assert code == 0 and "created schema" in out


def test_a_newer_tether_migrates(pg_url: str, pg_schema: str, capsys: pytest.CaptureFixture[str],
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    from runtime.backends.postgres import schema

    assert run(["db", "init", "--store", pg_url], capsys)[0] == 0
    newer = (*schema.MIGRATIONS, (schema.VERSION + 1, "CREATE TABLE {s}.added (x integer)"))
    monkeypatch.setattr(schema, "MIGRATIONS", newer)
    monkeypatch.setattr(schema, "VERSION", schema.VERSION + 1)
    code, out, err = run(["db", "init", "--store", pg_url], capsys)
    assert (code, err) == (0, "")
    assert f"migrated schema {pg_schema} from version {VERSION} to {VERSION + 1}" in out
    import psycopg

    with psycopg.connect(SERVER) as conn:
        assert conn.execute(f"SELECT count(*) FROM {pg_schema}.added").fetchone() == (0,)
        assert conn.execute(f"SELECT max(version) FROM {pg_schema}.schema_version"
                            ).fetchone() == (VERSION + 1,)


def test_an_older_tether_refuses_a_newer_schema(pg_url: str, pg_schema: str,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["db", "init", "--store", pg_url], capsys)[0] == 0
    import psycopg

    with psycopg.connect(SERVER) as conn:
        conn.execute(f"INSERT INTO {pg_schema}.schema_version (version) VALUES (99)")
    code, _, err = run(["db", "init", "--store", pg_url], capsys)
    line = one_error_line(err)
    assert code == 2
    assert f"schema version 99, newer than this tether's {VERSION}" in line and pg_schema in line


@pytest.mark.parametrize(("url", "expect"), [
    pytest.param("postgresql://localhost:notaport/test", "malformed PostgreSQL URL", id="bad-port"),
    pytest.param("postgresql://localhost/test?bogus=1", 'invalid URI query parameter: "bogus"',
                 id="unknown-parameter"),
    pytest.param("postgresql://[::1/test", "malformed PostgreSQL URL", id="unclosed-bracket"),
    pytest.param("postgresql://localhost/test?schema=Bad-Name", "bad schema='Bad-Name'",
                 id="bad-schema"),
])
def test_malformed_urls_are_one_line(url: str, expect: str,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["db", "init", "--store", url], capsys)
    line = one_error_line(err)
    assert code == 2 and expect in line


def test_not_a_postgres_url(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["db", "init", "--store", "some/dir"], capsys)
    assert code == 2 and "is not a postgresql:// URL" in one_error_line(err)


def test_unreachable_server_masks_the_password(capsys: pytest.CaptureFixture[str]) -> None:
    # Port 1 on loopback: nothing listens, the connection is refused at once.
    code, _, err = run(["db", "init", "--store", "postgresql://alice:s3cret@127.0.0.1:1/test"],
                       capsys)
    line = one_error_line(err)
    assert code == 2
    assert "cannot reach PostgreSQL at postgresql://alice:***@127.0.0.1:1/test" in line
    assert "s3cret" not in err


def test_password_in_a_parameter_is_masked_too(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(["db", "init", "--store", "postgresql://127.0.0.1:1/test?password=s3cret"],
                       capsys)
    assert code == 2 and "password=***" in one_error_line(err) and "s3cret" not in err


def test_unknown_role_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    require_server()
    url = SERVER.replace("postgresql://", "postgresql://no_such_role_xyz:pw@", 1)
    code, _, err = run(["db", "init", "--store", url], capsys)
    line = one_error_line(err)
    assert code == 2
    assert "refused the connection" in line and 'role "no_such_role_xyz" does not exist' in line
    assert "no_such_role_xyz:***@" in line


def test_missing_database(capsys: pytest.CaptureFixture[str]) -> None:
    require_server()
    url = SERVER.rsplit("/", 1)[0] + "/no_such_db_xyz"
    code, _, err = run(["db", "init", "--store", url], capsys)
    line = one_error_line(err)
    assert code == 2 and 'database "no_such_db_xyz" does not exist' in line
    assert "no_such_db_xyz" in line.split(":", 2)[1] + line


def test_a_store_of_version_1_is_migrated_by_first_use(pg_url: str, pg_schema: str,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    """A store made by the first release (version 1) gains what later versions add."""
    from runtime.backends import open_backend
    from runtime.backends.postgres import schema

    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:1])
    monkeypatch.setattr(schema, "VERSION", 1)
    open_backend(pg_url).ensure()
    monkeypatch.undo()
    backend = open_backend(pg_url)
    backend.ensure()
    backend.close()
    import psycopg

    with psycopg.connect(SERVER) as conn:
        assert conn.execute(f"SELECT max(version) FROM {pg_schema}.schema_version"
                            ).fetchone() == (VERSION,)
        assert conn.execute("SELECT 1 FROM pg_indexes WHERE schemaname = %s"
                            " AND indexname = 'instances_free'", (pg_schema,)).fetchone()


def test_a_store_of_version_4_gains_the_tombstones_table(pg_url: str, pg_schema: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    """Version 5 adds `removed_entities` (the tombstones of removed entities) to a store
    made before it, which an entity removal then writes."""
    from runtime.backends import open_backend
    from runtime.backends.postgres import schema

    monkeypatch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:4])
    monkeypatch.setattr(schema, "VERSION", 4)
    open_backend(pg_url).ensure()
    monkeypatch.undo()
    import psycopg

    with psycopg.connect(SERVER) as conn:
        assert conn.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s"
                            " AND table_name = 'removed_entities'", (pg_schema,)).fetchone() is None
    backend = open_backend(pg_url)
    try:
        backend.ensure()
        assert backend.removed_memory("@counter@x") is None
    finally:
        backend.close()
    with psycopg.connect(SERVER) as conn:
        assert conn.execute(f"SELECT max(version) FROM {pg_schema}.schema_version"
                            ).fetchone() == (VERSION,)
        assert conn.execute("SELECT 1 FROM information_schema.tables WHERE table_schema = %s"
                            " AND table_name = 'removed_entities'", (pg_schema,)).fetchone()
