"""Ranking: what makes a merchant worth the walk.

:mod:`.scoring` (the ``best_match`` formula, consumption radii, explanations),
:mod:`.reputation` and :mod:`.signals` (word of mouth from ratings, reviews and
inspections) and :mod:`.hours` (opening hours).
"""

__all__: list[str] = []
