"""One streamer skeleton for ``model.generate``: skip the prompt, hand on each new token.

``model.generate(..., streamer=s)`` calls ``s.put(prompt_ids)`` once, then ``s.put(new_ids)`` after
every step, then ``s.end()`` (transformers' ``BaseStreamer`` interface). :class:`NewTokenStreamer`
drops the prompt and passes each step's new ids to :meth:`~NewTokenStreamer.on_new_tokens`.
The arena subclasses it to put token ids on its queue, measure.py to record arrival times.

It has the interface of ``BaseStreamer`` without subclassing it (``generate`` only calls ``put``
and ``end``), so importing course_utils.measure does not import transformers.
"""

from __future__ import annotations

import torch


class NewTokenStreamer:
    """A streamer for ``model.generate`` that ignores the prompt and sees only new tokens."""

    def __init__(self):
        self._prompt_seen = False

    def put(self, value: torch.Tensor) -> None:
        if not self._prompt_seen:  # generate() first sends the prompt
            self._prompt_seen = True
            return
        self.on_new_tokens(value)

    def on_new_tokens(self, ids: torch.Tensor) -> None:
        """One step's new token ids, (B,) or (B, 1), the moment ``generate`` has them."""
        raise NotImplementedError

    def end(self) -> None:
        pass
