"""The outlook: one judgement per asset, computed by the gateway and stored for every reader.

- judgement.py: the rules that turn severity zone + wear forecast into one action (pure);
- levels.py: the robust recent running level, its trend and the asset's utilisation;
- engine.py: the supervised task that recomputes changed assets in batches and stores them.
"""

from .engine import OutlookEngine, outlook_age_s
from .judgement import Facts, Judgement, Slot, judge, status_text

__all__ = ["Facts", "Judgement", "OutlookEngine", "Slot", "judge", "outlook_age_s", "status_text"]
