"""`open_backend`: what a store's name selects, and one line when it cannot be used."""

from __future__ import annotations

import builtins
from pathlib import Path
from typing import Any

import pytest

from runtime.backends import mask, open_backend
from runtime.backends.base import BackendUnavailable
from runtime.backends.file import FileBackend
from tether.cli import main


def test_a_path_is_a_file_store_and_a_backend_is_used_as_it_is(tmp_path: Path) -> None:
    backend = open_backend(tmp_path / "s")
    assert isinstance(backend, FileBackend)
    assert open_backend(backend) is backend
    with pytest.raises(TypeError):
        open_backend(42)  # type: ignore[arg-type]


def test_a_postgresql_url_without_psycopg_says_what_to_install(
        monkeypatch: pytest.MonkeyPatch) -> None:
    real = builtins.__import__

    def no_psycopg(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "psycopg" or name.startswith("psycopg."):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return real(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_psycopg)
    import sys

    for mod in [m for m in sys.modules if m.startswith(("runtime.backends.postgres", "psycopg"))]:
        monkeypatch.delitem(sys.modules, mod)
    with pytest.raises(BackendUnavailable) as err:
        open_backend("postgresql://app:secret@db/prod")
    assert str(err.value) == ("postgresql://app:***@db/prod: PostgreSQL stores need psycopg: "
                              "pip install 'tether[postgres]'")


def test_passwords_are_masked() -> None:
    assert mask("postgresql://u:p4ss@h:5432/d") == "postgresql://u:***@h:5432/d"
    assert mask("postgresql://u@h/d") == "postgresql://u@h/d"
    assert mask("/some/dir") == "/some/dir"


def test_a_store_that_is_a_file_is_one_line_and_exit_2(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "a-file"
    store.write_text("not a store")
    assert main(["list", "--store", str(store)]) == 2
    err = capsys.readouterr().err
    assert err == f"error: store {store}: is a file, not a store directory\n"
