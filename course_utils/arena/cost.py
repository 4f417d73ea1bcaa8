"""What generation costs, from assumptions the learner can see and edit."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass
class CostAssumptions:
    """What an hour of generation costs. Local: hardware rent (or purchase price ÷ hours of use)
    plus electricity. Endpoint: the provider's price per million generated tokens."""

    hardware_usd_per_hour: float = 0.10
    power_watts: float = 65.0
    electricity_usd_per_kwh: float = 0.30
    endpoint_usd_per_million_tokens: float = 0.50

    def usd_per_hour(self) -> float:
        return self.hardware_usd_per_hour + self.power_watts / 1000 * self.electricity_usd_per_kwh

    def per_1k_tokens(self, tokens_per_s: float | None, kind: str = "local") -> float | None:
        """Dollars for 1,000 generated tokens at ``tokens_per_s`` (one request at a time)."""
        if kind == "endpoint":
            return self.endpoint_usd_per_million_tokens / 1000
        if not tokens_per_s or tokens_per_s <= 0 or math.isnan(tokens_per_s):
            return None
        return 1000 / tokens_per_s / 3600 * self.usd_per_hour()
