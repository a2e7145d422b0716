"""A user's module named like one of tether's top-level packages (`compiler`, `runtime`,
`lint`) fails with one line naming that file, instead of a confusing import error."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tether.cli import main

ROOT = Path(__file__).resolve().parents[2]
HELLO = (ROOT / "examples" / "hello_cities.py").read_text()


def _python(code: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    # `python -c` puts the working directory first on sys.path, as `python app.py` does
    # for the script's folder: the user's module is found before tether's
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True,
                          text=True, env=env, timeout=60)


@pytest.mark.parametrize("shadow", ["runtime.py", "compiler.py", "lint/__init__.py", "lint/"])
def test_import_tether_names_the_shadowing_module(tmp_path: Path, shadow: str) -> None:
    target = tmp_path / shadow
    if shadow.endswith("/"):
        target.mkdir()  # a namespace package: a folder without __init__.py shadows too
    else:
        target.parent.mkdir(exist_ok=True)
        target.write_text("x = 1\n")
    done = _python("import tether", tmp_path)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    name = shadow.split("/")[0].removesuffix(".py")
    shown = name + ("/" if "/" in shadow else ".py")
    assert last == (f"tether.package_guard.ShadowedPackageError: {shown} shadows tether's "
                    f"`{name}` package; rename it (tether reserves the top-level names "
                    "compiler, runtime and lint)")


def test_import_tether_is_quiet_without_shadowing(tmp_path: Path) -> None:
    (tmp_path / "runtimes.py").write_text("x = 1\n")  # a near name is no clash
    done = _python("import tether, compiler, lint; print('ok')", tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == "ok\n"


def test_cli_refuses_a_clashing_module_beside_src(tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "app.py").write_text(HELLO)
    (tmp_path / "compiler.py").write_text("x = 1\n")
    code = main(["run", f"{tmp_path / 'app.py'}:hello_cities", "--store",
                 str(tmp_path / "store"), "--input", '["Oslo"]'])
    err = capsys.readouterr().err
    assert code == 2
    assert err.count("\n") == 1
    assert err.startswith("error: ") and "compiler.py has the name of tether's `compiler` " \
        "package; rename it" in err
    assert not (tmp_path / "store").exists()


def test_cli_refuses_src_named_like_a_package(tmp_path: Path,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "runtime.py").write_text(HELLO)
    code = main(["run", f"{tmp_path / 'runtime.py'}:hello_cities", "--store",
                 str(tmp_path / "store")])
    err = capsys.readouterr().err
    assert code == 2
    assert err == (f"error: {tmp_path / 'runtime.py'}: a module named 'runtime' would replace "
                   "tether's `runtime` package; rename the file\n")
