"""Suite-wide options: `--soak` runs the long randomized profiles, `--update-golden`
rewrites the compiler's golden IR files."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption("--soak", action="store_true", help="run long soak tests")
    parser.addoption("--update-golden", action="store_true", help="rewrite golden files")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--soak"):
        return
    skip = pytest.mark.skip(reason="soak test: run with --soak")
    for item in items:
        if "soak" in item.keywords:
            item.add_marker(skip)


# One pytest parameter selects the backend (file, postgres) for every test that takes
# `backend` or `stores` (tests/backends/support.py).
from tests.backends.support import backend, backend_kind, stores  # noqa: E402

__all__ = ["backend", "backend_kind", "stores"]


@pytest.fixture(autouse=True)
def _entity_registry_per_test() -> Iterator[None]:
    """Entity names are one registry per process (`runtime.entities.define.ENTITIES`): an
    example loaded by one test (its `counter`, its `account`) must not replace the
    entity of the same name that another test module defines."""
    from runtime.entities.define import ENTITIES

    saved = dict(ENTITIES)
    yield
    ENTITIES.clear()
    ENTITIES.update(saved)
