"""``python -m course_utils doctor``: what this machine is, which models it gets, what is missing."""

from __future__ import annotations

import importlib
import sys
from dataclasses import dataclass, field

from course_utils.env import MachineInfo, human_bytes, machine_info
from course_utils.catalog import catalog, course_aliases
from course_utils.tiers import pick_pair

REQUIRED = ("torch", "transformers", "safetensors", "tokenizers", "ipywidgets", "matplotlib", "psutil", "tqdm")
OPTIONAL = {"jupyterlab": "the JupyterLab interface", "nbval": "the notebook tests",
            "playwright": "the browser test", "huggingface_hub": "downloading models"}


@dataclass
class DoctorReport:
    machine: MachineInfo
    versions: dict[str, str]
    broken: list[str] = field(default_factory=list)  # required packages that fail to import
    missing: list[str] = field(default_factory=list)  # optional things absent, with what they are for
    lines: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.broken

    def text(self) -> str:
        return "\n".join(self.lines)


def _version(module: str) -> str | None:
    try:
        mod = importlib.import_module(module)
    except Exception:  # a broken install can raise anything on import
        return None
    return str(getattr(mod, "__version__", "installed"))


def diagnose(check_hub: bool = True) -> DoctorReport:
    """Collect the report without printing it (the notebook shows it too)."""
    machine = machine_info(check_hub_now=check_hub)
    versions, broken, missing = {}, [], []
    for name in REQUIRED:
        v = _version(name)
        versions[name] = v or "MISSING"
        if v is None:
            broken.append(name)
    for name, purpose in OPTIONAL.items():
        v = _version(name)
        versions[name] = v or "not installed"
        if v is None:
            missing.append(f"{name} (for {purpose})")
    course = [s for s in catalog().values() if s.is_course_model]
    if not any(s.available_offline for s in course):
        missing.append("the course models in models/ (run `python -m course_utils zoo build`)")

    report = DoctorReport(machine, versions, broken, missing)
    add = report.lines.append
    add("Small vs Large Language Models: doctor")
    add("=" * 40)
    add(f"Python      {machine.python} ({sys.executable})")
    add("Packages    " + ", ".join(f"{k} {v}" for k, v in versions.items()))
    add(f"Runtime     {machine.runtime}")
    add(f"CPU         {machine.cpu_cores} cores")
    add(f"RAM         {human_bytes(machine.ram_total_bytes)} total, "
        f"{human_bytes(machine.ram_available_bytes)} available")
    if machine.gpu:
        g = machine.gpu
        add(f"GPU         {g.name}, {human_bytes(g.total_bytes)} ({human_bytes(g.free_bytes)} free), "
            f"bf16 {'native' if g.bf16_native else 'not native: float16 is used'}")
    else:
        add("GPU         none (models run on the CPU)")
    if machine.hub is not None:
        add(f"Model hub   {'reachable' if machine.hub.reachable else 'offline'}: {machine.hub.reason}")
    else:
        add("Model hub   not checked (--no-network)")
    available = [s.name for s in course if s.available_offline]
    aliases = course_aliases()
    add(f"Course      {len(available)} course models in models/" +
        (f" ({', '.join(available)}; course-slm = {aliases.get('course-slm', '?')}, "
         f"course-llm = {aliases.get('course-llm', '?')})" if available else ""))

    if machine.hub is None:  # without the check, plan for the offline tier
        from course_utils.env import HubStatus
        machine.hub = HubStatus(False, "not checked")
    pair = pick_pair(machine)
    add("")
    add(f"Verdict     tier '{pair.tier.name}': {pair.tier.description}")
    add(f"            small model: {pair.small}   large model: {pair.large}   ({pair.reason}"
        + (", in bfloat16 to fit" if pair.dtype == "bfloat16" else "") + ")")
    if pair.needed_bytes:
        add(f"            both need about {human_bytes(pair.needed_bytes)} "
            f"of a {human_bytes(pair.budget_bytes)} budget")
    if pair.tier.name == "offline":
        from dataclasses import replace
        from course_utils.env import HubStatus
        online = pick_pair(replace(machine, hub=HubStatus(True, "assumed")))
        add(f"            online, this machine would get tier '{online.tier.name}': "
            f"{online.small} vs {online.large}")
    if broken:
        add(f"BROKEN      required packages fail to import: {', '.join(broken)} — "
            "reinstall with `pip install -r requirements.txt -e .`")
    for item in missing:
        add(f"Missing     {item}")
    if not broken:
        add("Status      ready" + (" (with the gaps listed above)" if missing else ""))
    return report


def run_doctor(check_hub: bool = True) -> int:
    """Print the report; exit status 1 only for a broken install."""
    report = diagnose(check_hub)
    print(report.text())
    return 0 if report.ok else 1
