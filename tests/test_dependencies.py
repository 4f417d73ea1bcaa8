"""Every third-party package the course's helpers import is declared, so `pip install -e .` brings it."""

import ast
import re
import sys
from importlib import metadata
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
# imported only inside Jupyter, and a declared requirement of the package named here
COMES_WITH = {"ipython": "ipywidgets"}


def _name(requirement: str) -> str:
    """The normalised distribution name at the start of a requirement string."""
    return re.split(r"[\s<>=!~;\[(]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-").replace(".", "-")


def _imported_top_level_modules() -> set[str]:
    found = set()
    for path in (REPO / "course_utils").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name.split(".")[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add(node.module.split(".")[0])
    return {m for m in found if m not in sys.stdlib_module_names and m != "course_utils"}


def test_every_package_course_utils_imports_is_declared_in_pyproject():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    declared = {_name(r) for r in tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]}
    for dist, via in COMES_WITH.items():
        assert via in declared and dist in {_name(r) for r in metadata.requires(via) or []}, (dist, via)
    dists = metadata.packages_distributions()
    undeclared = {}
    for module in _imported_top_level_modules():
        names = {_name(d) for d in dists.get(module, [module])}
        if not names & (declared | set(COMES_WITH)):
            undeclared[module] = sorted(names)
    assert not undeclared, f"imported by course_utils but not in pyproject.toml's dependencies: {undeclared}"


def test_requirements_pin_httpx_like_the_binder_image():
    pins = [line for line in (REPO / "requirements.txt").read_text().splitlines() if line.startswith("httpx==")]
    assert len(pins) == 1 and pins[0] in (REPO / "binder" / "requirements.txt").read_text().splitlines()


def test_the_quantization_libraries_are_pinned_alike_everywhere_they_are_named():
    tomllib = pytest.importorskip("tomllib")
    from course_utils.quantize_libraries import LIBRARY_VERSIONS

    pins = {f"{name}=={version}" for name, version in LIBRARY_VERSIONS.items()}
    extra = set(tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["quantization"])
    assert extra == pins
    for path in (REPO / "requirements.txt", REPO / "binder" / "requirements.txt"):
        lines = {line.split("#")[0].strip() for line in path.read_text().splitlines()}
        assert pins <= lines, path
