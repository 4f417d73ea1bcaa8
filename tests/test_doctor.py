import subprocess
import sys

from course_utils import doctor


def test_report_names_the_machine_the_tier_and_the_pair():
    report = doctor.diagnose(check_hub=True)  # HF_HUB_OFFLINE=1 in tests: no connection is made
    text = report.text()
    for heading in ("Python", "Packages", "Runtime", "CPU", "RAM", "GPU", "Model hub", "Verdict"):
        assert heading in text
    assert "HF_HUB_OFFLINE" in text and "tier 'offline'" in text
    assert "online, this machine would get tier" in text
    assert report.ok and "Status      ready" in text


def test_broken_install_exits_non_zero(monkeypatch):
    monkeypatch.setattr(doctor, "REQUIRED", doctor.REQUIRED + ("no_such_package_xyz",))
    report = doctor.diagnose(check_hub=False)
    assert not report.ok and "BROKEN" in report.text()
    assert doctor.run_doctor(check_hub=False) == 1


def test_doctor_command_line():
    out = subprocess.run([sys.executable, "-m", "course_utils", "doctor"], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    assert "Verdict" in out.stdout and "small model:" in out.stdout
