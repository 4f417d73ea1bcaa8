"""classroom/: the class server's configuration, sized from the measured lesson peaks and kept in sync."""

import json
import subprocess

import yaml
from traitlets.config import Config

from course_utils import class_config as cc


def test_classroom_is_in_sync_with_the_measured_peaks():
    assert cc.main(["--check"]) == 0, "run `python -m course_utils classroom`"


def test_the_limits_come_from_the_hungriest_lesson_with_a_margin(tmp_path):
    record = tmp_path / "m.json"
    record.write_text(json.dumps({"lessons": {"a": {"peak_bytes": 1_000_000_000}, "b": {"peak_bytes": 1_700_000_000}}}))
    s = cc.sizing(record)
    assert (s.hungriest, s.memory_limit_gb) == ("b", 2.5)  # 1.7 GB × 1.25 = 2.125, rounded up to 2.5
    assert s.totals(40) == (100.0, 20.0) and s.threads == 1  # the guaranteed half core: one thread
    assert cc.sizing(tmp_path / "missing.json") is None


def test_the_files_are_valid_for_their_tools():
    files = cc.files()
    s = cc.sizing()
    tljh = yaml.safe_load(files["tljh-config.yaml"])
    assert tljh["limits"] == {"memory": f"{s.memory_limit_gb:g}G", "cpu": s.cpu_limit}
    values = yaml.safe_load(files["z2jh-values.yaml"])["singleuser"]
    assert values["memory"]["limit"] == f"{s.memory_limit_gb:g}G" and values["cpu"]["guarantee"] == s.cpu_guarantee
    assert values["extraEnv"]["OMP_NUM_THREADS"] == str(s.threads)
    c = Config()
    exec(compile(files["tljh-course.py"], "tljh-course.py", "exec"), {"c": c})  # a JupyterHub config snippet
    assert c.Spawner.cpu_guarantee == s.cpu_guarantee
    assert subprocess.run(["bash", "-n"], input=files["tljh-setup.sh"], text=True).returncode == 0
