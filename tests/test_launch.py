"""The launch cells: every notebook's Colab bootstrap and badges come from course_utils.launch (one source, one
repository address), and the Colab install pins what is already installed instead of upgrading it."""

import json
import re
import subprocess
import sys

from course_utils import REPO_ROOT, launch

NOTEBOOKS = [p for folder in launch.FOLDERS for p in sorted((REPO_ROOT / folder).glob("[0-9][0-9]_*.ipynb"))]


def test_every_notebook_has_the_one_bootstrap_cell_and_its_own_badges():
    assert len(NOTEBOOKS) >= 3 * 13
    for path in NOTEBOOKS:
        cells = json.loads(path.read_text())["cells"]
        boots = [i for i, c in enumerate(cells) if c["cell_type"] == "code" and "".join(c["source"]).startswith(
            launch.BOOTSTRAP_FIRST_LINE)]
        assert len(boots) == 1, path.name
        assert "".join(cells[boots[0]]["source"]) == launch.bootstrap_source(), path.name
        rel = path.relative_to(REPO_ROOT).as_posix()
        assert cells[boots[0] - 1]["id"] == launch.BADGES_CELL_ID
        assert "".join(cells[boots[0] - 1]["source"]) == launch.badges(rel), path.name
        assert f"/blob/{launch.BRANCH}/{rel})" in launch.badges(rel) and f"labpath={rel})" in launch.badges(rel)
    assert launch.sync(check_only=True) == []


def test_sync_puts_back_an_edited_bootstrap_and_is_idempotent(tmp_path):
    for folder in launch.FOLDERS:
        (tmp_path / folder).mkdir()
    nb = json.loads(NOTEBOOKS[0].read_text())
    boot = next(c for c in nb["cells"] if c["cell_type"] == "code")
    boot["source"] = ["# On Colab the course is fetched and installed first; everywhere else this cell does nothing.\n",
                      "!pip install -U torch transformers ipywidgets\n"]  # what must never happen on Colab
    nb["cells"] = [c for c in nb["cells"] if c.get("id") != launch.BADGES_CELL_ID]
    target = tmp_path / "notebooks" / NOTEBOOKS[0].name
    target.write_text(json.dumps(nb, indent=1))
    assert launch.sync(tmp_path) == [target]
    assert launch.sync(tmp_path) == []  # a second sync changes nothing
    fixed = json.loads(target.read_text())["cells"]
    assert sum(c.get("id") == launch.BADGES_CELL_ID for c in fixed) == 1
    assert "pip install -U" not in target.read_text()


def test_the_repository_address_is_set_in_one_place():
    address = launch.REPOSITORY
    modules = [p for p in (REPO_ROOT / "course_utils").rglob("*.py") if address in p.read_text()]
    assert modules == [REPO_ROOT / "course_utils" / "launch.py"]
    generated = {launch.bootstrap_source()}
    for path in NOTEBOOKS:
        rel = path.relative_to(REPO_ROOT).as_posix()
        rest = [c for c in json.loads(path.read_text())["cells"]
                if "".join(c["source"]) not in generated | {launch.badges(rel)}]
        assert address not in json.dumps(rest), f"{path.name} names the repository outside its launch cells"
    readme = (REPO_ROOT / "README.md").read_text()
    assert launch.badges("notebooks/00_start_here.ipynb") in readme


def test_the_colab_install_pins_every_installed_package_and_adds_only_the_course(tmp_path):
    """What the bootstrap does on Colab, run here as a dry run: the constraints from `pip list` let pip add the
    course, and nothing installed changes (pip has to refuse rather than replace a pinned package)."""
    pip = [sys.executable, "-m", "pip"]
    freeze = subprocess.run(pip + ["list", "--format=freeze"], capture_output=True, text=True, check=True).stdout
    pins = [l for l in freeze.splitlines() if not re.match(r"course[-_]utils==", l, re.I)]  # not yet there on Colab
    constraints = tmp_path / "colab-constraints.txt"
    constraints.write_text("\n".join(pins) + "\n")
    report = tmp_path / "report.json"
    dry = pip + ["install", "-q", "--dry-run", "--no-index", "--no-build-isolation", "--report", str(report),
                 "-e", str(REPO_ROOT), "-c", str(constraints)]
    subprocess.run(dry, check=True, capture_output=True, text=True, timeout=300)
    installs = [(i["metadata"]["name"], i["metadata"]["version"]) for i in json.loads(report.read_text())["install"]]
    assert [name.replace("-", "_") for name, _ in installs] == ["course_utils"]
    # a pin the course cannot live with is refused, never "fixed" by upgrading or downgrading it
    constraints.write_text("\n".join(p if not p.lower().startswith("transformers==") else "transformers==4.0.0"
                                     for p in pins) + "\n")
    refused = subprocess.run(dry, capture_output=True, text=True, timeout=300)
    assert refused.returncode != 0 and "conflicting dependencies" in refused.stderr


def test_binder_follows_repo2docker_conventions():
    binder = REPO_ROOT / "binder"
    assert (binder / "runtime.txt").read_text().strip() == "python-3.11"  # the Python the course is tested on
    post = (binder / "postBuild").read_text().splitlines()
    assert post[0].startswith("#!") and post[1] == "set -e" and any("pip install" in l and " -e ." in l for l in post)
    reqs = (binder / "requirements.txt").read_text().splitlines()
    assert "--extra-index-url https://download.pytorch.org/whl/cpu" in reqs  # not the multi-GB CUDA build
    pins = {l.split("#")[0].strip() for l in reqs if "==" in l}
    assert pins == {l.split("#")[0].strip() for l in (REPO_ROOT / "requirements.txt").read_text().splitlines()
                    if "==" in l}
