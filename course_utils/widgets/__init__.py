"""Interactive widgets (core ipywidgets only, 7 and 8) whose logic is tested in pytest."""

from course_utils.widgets.cost_calculator import CostCalculator
from course_utils.widgets.quick_generate import QuickGenerate
from course_utils.widgets.tier_explorer import TierExplorer

__all__ = ["CostCalculator", "QuickGenerate", "TierExplorer"]
