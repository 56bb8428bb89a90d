"""Business districts (商圈): detection, profiles and evaluation against ground truth.

:mod:`.detect` (the detectors and :class:`~.detect.Districts`), :mod:`.profile`
(names, tiers, vitality and statistics) and :mod:`.evaluate` (scores against official
polygons such as the NYC BIDs).
"""

__all__: list[str] = []
