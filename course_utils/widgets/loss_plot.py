"""A live loss plot: pass ``plot.update`` as the training callback and watch the curves fall.

    plot = LossPlot(floor=best_possible_loss)
    display(plot)
    history = train(model, train_stream, val_stream, cfg, callback=plot.update)
"""

from __future__ import annotations

import ipywidgets as W
import matplotlib.pyplot as plt


def smooth(values: list[float], weight: float = 0.9) -> list[float]:
    """Exponential moving average with bias correction (what TensorBoard's smoothing slider does)."""
    out, avg = [], 0.0
    for i, v in enumerate(values, start=1):
        avg = weight * avg + (1 - weight) * v
        out.append(avg / (1 - weight ** i))
    return out


class LossPlot:
    """Training loss (raw and smoothed), validation loss and an optional floor line, redrawn on update.

    ``floor``: a loss no model can beat (e.g. the corpus entropy in nats/token), drawn dashed.
    The last figure is kept in ``self.figure`` so tests can inspect it.
    """

    def __init__(self, title: str = "training", floor: float | None = None, floor_label: str = "best possible",
                 width: float = 7.0, height: float = 3.5):
        self.title, self.floor, self.floor_label = title, floor, floor_label
        self.size = (width, height)
        self.output = W.Output()
        self.status = W.HTML(value="<i>Waiting for the first evaluation…</i>")
        self.widget = W.VBox([self.output, self.status])
        self.figure = None
        self.n_updates = 0

    def draw(self, history):
        """Draw the curves of a training History (see course_utils.training) into a new figure."""
        fig, ax = plt.subplots(figsize=self.size)
        if history.train_loss:
            ax.plot(history.steps, history.train_loss, color="#9bbbe0", lw=0.8, label="training loss")
            ax.plot(history.steps, smooth(history.train_loss), color="#1a5fb4", lw=1.8, label="training (smoothed)")
        if history.val_loss:
            ax.plot(history.val_steps, history.val_loss, "o-", color="#e66100", ms=4, label="validation loss")
        if self.floor is not None:
            ax.axhline(self.floor, color="#333", ls="--", lw=1, label=f"{self.floor_label} ({self.floor:.2f})")
        ax.set_xlim(0, max(history.total_steps, history.steps[-1] if history.steps else 1))
        ax.set_xlabel("step")
        ax.set_ylabel("loss (nats / token)")
        ax.set_title(self.title)
        ax.grid(alpha=0.3)
        ax.legend(loc="upper right", fontsize=8)
        fig.tight_layout()
        plt.close(fig)  # shown through the Output widget only, not again at the end of the cell
        return fig

    def update(self, history):
        """Training callback: redraw with the latest History."""
        self.figure = self.draw(history)
        self.n_updates += 1
        with self.output:
            from IPython.display import clear_output, display

            clear_output(wait=True)
            display(self.figure)
        parts = [f"step {history.steps[-1] if history.steps else 0} / {history.total_steps}"]
        if history.train_loss:
            parts.append(f"training loss {smooth(history.train_loss)[-1]:.3f}")
        if history.val_loss:
            parts.append(f"validation loss {history.val_loss[-1]:.3f}")
        if history.wall_s:
            parts.append(f"{history.tokens_per_s:,.0f} tokens/s")
        self.status.value = " · ".join(parts)

    def _ipython_display_(self):
        from IPython.display import display

        display(self.widget)
