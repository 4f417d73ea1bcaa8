"""Which models would each kind of machine get? A dropdown of machines and a memory plot."""

from __future__ import annotations

import html

import ipywidgets as W
import matplotlib.pyplot as plt
from IPython.display import display

from course_utils.env import GPUInfo, HubStatus, MachineInfo, human_bytes
from course_utils.catalog import get_spec
from course_utils.sizing import default_dtype, estimate_memory_bytes
from course_utils.tiers import pick_pair

PROFILES = {
    "Binder (2 GB RAM, CPU)": dict(ram_gb=2),
    "Laptop (16 GB RAM, CPU)": dict(ram_gb=16),
    "Colab T4 (16 GB GPU, no bf16)": dict(ram_gb=12, gpu_gb=15, bf16=False),
    "Workstation (24 GB GPU)": dict(ram_gb=64, gpu_gb=24),
    "H100 (80 GB GPU)": dict(ram_gb=200, gpu_gb=80),
    "Any machine, offline": dict(ram_gb=16, online=False),
}


def profile_machine(ram_gb: float, gpu_gb: float | None = None, bf16: bool = True,
                    online: bool = True) -> MachineInfo:
    gpu = GPUInfo("profile GPU", int(gpu_gb * 1e9), int(gpu_gb * 0.95e9), bf16) if gpu_gb else None
    return MachineInfo("profile", 4, int(ram_gb * 1e9), int(ram_gb * 0.8e9), gpu,
                       HubStatus(online, "profile"))


class TierExplorer:
    """Pick a machine; see its tier, its (small, large) pair and the memory they need."""

    def __init__(self, this_machine: MachineInfo | None = None, context: int = 1024):
        self.context = context
        options = list(PROFILES)
        self._machines = {name: profile_machine(**kw) for name, kw in PROFILES.items()}
        if this_machine is not None:
            options.insert(0, "This machine")
            self._machines["This machine"] = this_machine
        self.machine = W.Dropdown(options=options, value=options[0], description="machine",
                                  layout=W.Layout(width="420px"))
        self.summary = W.HTML()
        self.plot = W.Output()
        self.machine.observe(lambda change: self.update(), names="value")
        self.widget = W.VBox([self.machine, self.summary, self.plot])
        self.update()

    def update(self):
        m = self._machines[self.machine.value]
        self.choice = pick_pair(m, self.context)
        c = self.choice
        parts = [f"<b>Tier:</b> {html.escape(c.tier.name)} — {html.escape(c.tier.description)}<br>",
                 f"<b>Small:</b> {html.escape(c.small)} &nbsp; <b>Large:</b> {html.escape(c.large)}"]
        if c.needed_bytes:
            parts.append(f"<br>Together about {human_bytes(c.needed_bytes)} of a "
                         f"{human_bytes(c.budget_bytes)} budget"
                         + (" (in bfloat16 to fit)" if c.dtype == "bfloat16" else ""))
        self.summary.value = "".join(parts)
        self.plot.clear_output(wait=True)
        self.figure = None
        if c.tier.name == "offline":
            return
        with self.plot:
            fig, ax = plt.subplots(figsize=(6, 1.8))
            self.figure = fig
            device = m.device
            bf16 = m.gpu.bf16_native if m.gpu else True
            left = 0
            for name, color in ((c.small, "#4c9be8"), (c.large, "#e8884c")):
                spec = get_spec(name)
                dtype = c.dtype if c.dtype != "default" else default_dtype(spec, device, bf16)
                need = estimate_memory_bytes(spec, dtype, self.context) / 1e9
                ax.barh(0, need, left=left, color=color, label=f"{name} ({dtype})")
                left += need
            ax.axvline(c.budget_bytes / 1e9, color="k", ls="--", label="memory budget")
            ax.set_yticks([])
            ax.set_xlabel("GB (weights + KV cache for a "
                          f"{self.context}-token context + activations)")
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.6), ncol=3, fontsize=8, frameon=False)
            display(fig)
            plt.close(fig)  # shown once, in the Output widget; not kept open by pyplot

    def _ipython_display_(self):
        display(self.widget)
