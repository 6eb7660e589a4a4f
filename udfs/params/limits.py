"""Upper bounds shared by parameter declarations: what the code can run, so Init refuses the rest.

A window of ten million points per group already costs hundreds of megabytes; an
unbounded integer option would let ``.window(2**63 - 1)`` through Init and fail later
with a traceback (or an allocation the machine cannot make).
"""

from __future__ import annotations

__all__ = ["MAX_COUNT", "MAX_DURATION_NS", "MAX_GROUPS", "MAX_HISTORY", "MAX_LAGS", "MAX_TREES", "MAX_WINDOW"]

#: Points a detector may keep per group.
MAX_WINDOW = 10_000_000
#: Points a detector may keep per group when each point costs O(window) work
#: (a matrix profile's history, a forest's training set): beyond this one point takes seconds.
MAX_HISTORY = 1_000_000
#: Trees in a forest: each costs a fit and a walk per point.
MAX_TREES = 10_000
#: Lagged values in one feature vector.
MAX_LAGS = 1_000
#: Groups one UDF instance may keep (``.max_groups()``).
MAX_GROUPS = 10_000_000
#: Any other count (changes, votes...).
MAX_COUNT = 1_000_000_000
#: The longest duration option: 100 years, far inside int64 nanoseconds.
MAX_DURATION_NS = 100 * 365 * 86_400 * 1_000_000_000
