"""``@irregular_unstable()``: a second stage that re-checks a detector's candidates over a much longer history.

Chain it after any detector emitting every point (``.emit('all')``)::

    @mad().field('value').emit('all')
    @irregular_unstable().field('value')

Each point passes through with the first stage's fields and tags. When the series is
irregular or low-variance, a candidate (``is_anomaly`` true) that the last ``history``
(30 days) reached at least ``min_buckets`` times gets ``is_anomaly`` false and
``cleared_by = 'irregular_unstable'``; ``irregular_unstable_score`` is the share of the
history's buckets that did not reach the value.
"""

from __future__ import annotations

from udfs.functions.daily_peak import DailyPeakUDF

__all__ = ["IrregularUnstableUDF"]


class IrregularUnstableUDF(DailyPeakUDF):
    name = "irregular_unstable"
    summary = ("Second stage: clears a detector's candidates on irregular or low-variance series when a long "
               "history (30 days, bounded buckets) has seen the value before.")
    detector = "irregular_unstable"
