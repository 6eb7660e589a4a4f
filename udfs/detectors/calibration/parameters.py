"""The calibration options every detector UDF shares, declared once.

Imports nothing heavy: the UDF layer reads these declarations to answer Kapacitor's
``Info`` before any detector (or numpy) is loaded.

Defaults, and why (see ``udfs/detectors/calibration/__init__.py`` for the methods):

* ``calibration='likelihood+spot'``: an alert when either of two rules fires at the
  same ``risk``. Numenta's anomaly likelihood (Ahmad et al. 2017) judges the mean of
  the last ``short_window`` raw scores against their long-run distribution: it needs no
  assumption about the scale of a detector's raw score and catches sustained changes,
  but one extreme score among ten ordinary ones barely moves that mean. SPOT (Siffer et
  al., KDD 2017) judges each raw score against a generalised Pareto tail fitted to the
  highest ones: it catches the isolated extreme point. ``'likelihood'`` alone was the
  default before and missed +40 spikes on a sine of amplitude 5 with every detector
  but iqr; ``'likelihood+spot'`` catches them and scores at least as well on NAB.
* ``risk=1e-5``: the false-alarm budget, a tail probability per point. Numenta's own
  cut-off (likelihood 0.99999, log-likelihood 0.5), and SPOT's ``q``. Each rule of
  ``'likelihood+spot'`` spends it, so at one point a minute the budget is one false
  alarm in about 35 days before the cooldown.
* ``cooldown=12h``: after an alert, none in the same group for 12 hours: one incident,
  one alert, as earthgecko Skyline does (NAB's Skyline detector waits 12 h). Set a
  shorter one where a second incident the same morning matters more than quiet.
* ``learning_period=288`` points (a day of 5-minute data, Numenta's
  ``claLearningPeriod``): no verdict before the calibration has seen that many scores.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from udfs.params.declaration import Param, ParamSet
from udfs.params.limits import MAX_DURATION_NS, MAX_WINDOW

__all__ = ["CALIBRATION_MODES", "CALIBRATION_PARAMETERS", "calibration_parameters"]

#: The calibration methods, as ``.calibration()`` names them.
CALIBRATION_MODES = ("likelihood+spot", "likelihood+dspot", "likelihood", "spot", "dspot", "none")

_HOUR_NS = 3_600_000_000_000
_COOLDOWN_NS = 12 * _HOUR_NS

CALIBRATION_PARAMETERS = ParamSet(
    calibration=Param.choice(
        "likelihood+spot", CALIBRATION_MODES,
        "How raw scores become alerts: 'likelihood+spot' (an alert when either fires: sustained changes "
        "and isolated extreme scores), 'likelihood' (Numenta's anomaly likelihood of the recent mean "
        "score), 'spot' / 'dspot' (extreme-value threshold on each score, DSPOT following drift), "
        "'likelihood+dspot', 'none' (the detector's own threshold).",
    ),
    risk=Param.number(
        1e-5, "False-alarm budget: alert when a score this extreme has at most this probability "
        "(per point, per rule) under the learned score distribution (not used by 'none').",
        low=1e-9, high=0.5, closed="both",
    ),
    cooldown=Param.duration(
        _COOLDOWN_NS, "After an alert, no further alert in the same group for this long (0s: no cooldown).",
        low=0, high=MAX_DURATION_NS,
    ),
    learning_period=Param.integer(
        288, "Scores the calibration learns from before its first verdict (not used by 'none').",
        low=10, high=MAX_WINDOW,
    ),
    short_window=Param.integer(
        10, "'likelihood': raw scores averaged into the short-term mean that is judged.", low=1, high=10_000,
    ),
    historic_window=Param.integer(
        8640, "Recent scores the long-term distribution is estimated from (likelihood: Numenta's 8640; "
        "spot/dspot: the span the peaks are kept for).", low=10, high=MAX_WINDOW,
    ),
    level=Param.number(
        0.98, "'spot'/'dspot': quantile of the learning scores above which scores are peaks (Siffer et al.: 0.98).",
        low=0.5, high=0.9999, closed="both",
    ),
    drift_window=Param.integer(
        10, "'dspot': recent normal raw scores whose mean is taken as the drifting baseline.", low=1, high=100_000,
    ),
)


def calibration_parameters(defaults: Mapping[str, Any] | None = None) -> ParamSet:
    """:data:`CALIBRATION_PARAMETERS` with some defaults replaced (a detector's ``calibration_defaults``).

    >>> calibration_parameters({"calibration": "none"})["calibration"].default
    'none'
    >>> calibration_parameters({"colour": 1})
    Traceback (most recent call last):
    ...
    TypeError: unknown calibration parameter(s) colour
    """
    if not defaults:
        return CALIBRATION_PARAMETERS
    unknown = sorted(set(defaults) - set(CALIBRATION_PARAMETERS))
    if unknown:
        raise TypeError(f"unknown calibration parameter(s) {', '.join(unknown)}")
    return ParamSet(**{
        name: replace(param, default=param.normalise(defaults[name])) if name in defaults else param
        for name, param in CALIBRATION_PARAMETERS.items()
    })
