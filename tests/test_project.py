"""The promises the README makes: its commands, its course map, its tier table."""

import importlib.util
import re
from pathlib import Path

from course_utils.course_map import LESSONS, course_map_markdown
from course_utils.env import GPUInfo, HubStatus, MachineInfo
from course_utils.tiers import pick_pair

REPO = Path(__file__).resolve().parent.parent
README = (REPO / "README.md").read_text()


def _bash_blocks():
    return re.findall(r"```bash\n(.*?)\n```", README, re.S)


def test_readme_has_exactly_two_one_line_setup_commands_and_ci_runs_the_test_one_verbatim():
    setup = [b for b in _bash_blocks() if "pip install" in b]
    assert len(setup) == 2 and all("\n" not in b for b in setup)
    assert "jupyter lab notebooks/00_start_here.ipynb" in setup[0]
    assert "pytest" in setup[1]
    ci = (REPO / ".ci" / "run").read_text().splitlines()
    assert setup[1] in ci, ".ci/run must run the README's test command verbatim"


def test_readme_course_map_is_the_one_in_course_utils():
    assert course_map_markdown() in README
    assert len(LESSONS) == 14 and [l.number for l in LESSONS] == list(range(14))


def test_readme_tier_table_matches_what_pick_pair_computes():
    rows = {m.group(1): (m.group(2), m.group(3)) for m in
            re.finditer(r"^\| (binder|laptop-cpu|small-gpu|large-gpu) \| [^|]+ \| ([^|]+?) \| ([^|(]+?)[ (|]",
                        README, re.M)}
    machines = {
        "binder": MachineInfo("t", 2, int(2e9), int(1.8e9), None, HubStatus(True, "")),
        "laptop-cpu": MachineInfo("t", 8, int(16e9), int(14e9), None, HubStatus(True, "")),
        "small-gpu": MachineInfo("t", 2, int(12e9), int(10e9), GPUInfo("T4", int(15e9), int(15e9), False),
                                 HubStatus(True, "")),
        "large-gpu": MachineInfo("t", 8, int(200e9), int(180e9), GPUInfo("H100", int(80e9), int(79e9), True),
                                 HubStatus(True, "")),
    }
    assert set(rows) == set(machines)
    for tier, machine in machines.items():
        pair = pick_pair(machine)
        assert pair.tier.name == tier
        assert (pair.small, pair.large) == tuple(x.strip() for x in rows[tier]), tier


def test_binder_pins_match_requirements():
    pins = lambda path: {l for l in path.read_text().splitlines() if "==" in l}  # noqa: E731
    assert pins(REPO / "binder" / "requirements.txt") == pins(REPO / "requirements.txt")


def test_notebooks_have_no_saved_errors_or_widget_state():
    import json

    paths = list((REPO / "notebooks").glob("*.ipynb")) + list((REPO / "solutions").glob("*.ipynb"))
    assert paths  # there are notebooks to check
    for nb_path in paths:
        nb = json.loads(nb_path.read_text())
        assert "widgets" not in nb.get("metadata", {}), nb_path
        for cell in nb["cells"]:
            for out in cell.get("outputs", []):
                assert out.get("output_type") != "error", nb_path


def test_every_notebook_is_on_the_course_map_and_solutions_match_lessons():
    on_map = {l.notebook for l in LESSONS}
    notebooks = {p.relative_to(REPO).as_posix() for p in (REPO / "notebooks").glob("*.ipynb")}
    assert notebooks and notebooks <= on_map, notebooks - on_map
    for sol in (REPO / "solutions").glob("*.ipynb"):
        assert f"notebooks/{sol.name}" in notebooks, f"{sol.name} has no lesson notebook"


def test_each_lessons_header_time_is_the_course_maps():
    import json

    from course_utils.course_map import available_lessons

    lessons = available_lessons()
    assert lessons
    for lesson in lessons:
        nb = json.loads((REPO / lesson.notebook).read_text())
        header = "".join(nb["cells"][0]["source"])
        found = re.search(r"\(≈ (\d+) minutes\)", header)
        assert found, f"{lesson.notebook}: no '(≈ N minutes)' in its first cell"
        assert int(found.group(1)) == lesson.minutes, f"{lesson.notebook} says {found.group(1)} min, the map {lesson.minutes}"


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(f"course_utils.{name}") is not None
    except ModuleNotFoundError:  # a parent is a module, not a package
        return False


def _course_utils_imports(nb_path: Path) -> set[str]:
    """course_utils modules a notebook imports: 'catalog', 'widgets.arena', … (checks and hints excluded)."""
    import json

    source = "\n".join("".join(c["source"]) for c in json.loads(nb_path.read_text())["cells"] if c["cell_type"] == "code")
    found = set()
    for package, names in re.findall(r"^\s*from course_utils((?:\.\w+)*) import (\([^)]*\)|[\w, ]+)", source, re.M):
        names = [n.split(" as ")[0].strip() for n in names.strip("()").replace("\n", " ").split(",") if n.strip()]
        package = package.lstrip(".")
        # a name may itself be a module: `from course_utils import heads`, `from course_utils.zoo import ladder`
        modules = [f"{package}.{n}".lstrip(".") for n in names if _is_module(f"{package}.{n}".lstrip("."))]
        found.update(modules or [package])
    found.update(m.lstrip(".") for m in re.findall(r"^\s*import course_utils((?:\.\w+)+)", source, re.M))
    return {m for m in found if m.split(".")[0] not in ("checks", "hints")}


def test_the_module_map_in_course_utils_matches_what_the_notebooks_import():
    import course_utils

    imported: dict[str, set[int]] = {}
    for nb_path in sorted((REPO / "notebooks").glob("*.ipynb")) + sorted((REPO / "solutions").glob("*.ipynb")):
        for module in _course_utils_imports(nb_path):
            imported.setdefault(module, set()).add(int(nb_path.name[:2]))
    mapped = {m: set(lessons) for m, lessons in course_utils.LESSON_MODULES.items() if lessons}
    assert mapped == imported
    for module in course_utils.LESSON_MODULES:  # every module named exists
        assert _is_module(module), module
    listed = course_utils.__doc__
    assert all(f"``{m}``" in listed for m in course_utils.LESSON_MODULES)
