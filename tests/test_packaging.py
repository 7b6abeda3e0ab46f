"""What ships: the installed package holds production code only; the simulator stays in the checkout.

The simulator (tools/simulate.py, mostly scenario data written as code) feeds the tests, bench/ and
`make sample`, and imports from `monitor`, never the other way round.
"""

from __future__ import annotations

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# Top-level directories of the checkout that are never installed; no production module may import them.
CHECKOUT_ONLY = {"tools", "tests", "bench"}


def _imported_top_levels(path: Path) -> set[str]:
    """The top-level names of every absolute import in a module (relative imports stay in the package)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.partition(".")[0])
    return names


def test_simulator_is_not_importable_from_the_package() -> None:
    """`monitor.simulate` does not resolve; the simulator imports as `tools.simulate` from the checkout."""
    assert importlib.util.find_spec("monitor.simulate") is None
    spec = importlib.util.find_spec("tools.simulate")
    assert spec is not None and spec.origin is not None
    assert Path(spec.origin) == ROOT / "tools" / "simulate.py"


def test_no_production_module_imports_checkout_code() -> None:
    """No module under monitor/ imports the simulator, tools/, tests/ or bench/ (absent once installed)."""
    offenders = {
        str(path.relative_to(ROOT)): sorted(_imported_top_levels(path) & CHECKOUT_ONLY)
        for path in sorted((ROOT / "monitor").rglob("*.py"))
    }
    assert {path: names for path, names in offenders.items() if names} == {}
    assert not list((ROOT / "monitor").rglob("simulate*.py"))


def test_built_package_is_monitor_whole_and_nothing_else(tmp_path: Path) -> None:
    """setuptools' build_py (what the wheel packs, built offline) yields every module of monitor/, its
    subpackages and data included, and nothing else: no tools/, no simulator.

    A copy of the checkout is built, so nothing is written into the working tree; the copy includes
    tools/, so a packaging change that swept it in would show here.
    """
    pytest.importorskip("setuptools")  # in every Python 3.11 venv; the wheel build itself needs network
    src = tmp_path / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(ROOT / name, src / name)
    for name in ("monitor", "tools"):
        shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    out = tmp_path / "out"
    r = subprocess.run(
        [sys.executable, "-c", "from setuptools import setup; setup()", "-q", "build_py", "--build-lib",
         str(out)],
        check=False, cwd=src, capture_output=True, text=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["monitor"]
    built = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    modules = {p.relative_to(ROOT).as_posix() for p in (ROOT / "monitor").rglob("*.py")}
    assert {f for f in built if f.endswith(".py")} == modules  # a subpackage left out would not import
    assert {"monitor/data/hormuz.geojson", "monitor/data/malacca_singapore.geojson",
            "monitor/data/bab_el_mandeb.geojson", "monitor/data/mid.csv"} <= built
    assert not [f for f in built if "simulate" in f]


def test_simulator_runs_as_a_script_from_any_directory(tmp_path: Path) -> None:
    """`python tools/simulate.py` (what `make sample` and bench/run.py run) works outside the repo root."""
    r = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "simulate.py"), "--vessels", "3", "--messages", "20", "-"],
        check=False, cwd=tmp_path, capture_output=True, timeout=120,
    )
    assert r.returncode == 0, r.stderr.decode(errors="replace")
    lines = r.stdout.splitlines()
    assert len(lines) == 20
    assert all(b"!AIVDM," in line for line in lines)
