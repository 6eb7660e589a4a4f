"""@forecast() with a slow model: fits run in the background, no point waits or goes unscored."""

from __future__ import annotations

import math
import threading
import time

import numpy as np
import pytest

from udfs.detectors import forecast as forecast_module
from udfs.functions.forecast import ForecastUDF
from udfs.protocol import udf_pb2 as pb

from .harness import Harness

T0 = 1_700_000_000 * 10**9
STEP = 10 * 10**9


def points(n: int) -> list[pb.Point]:
    rng = np.random.default_rng(3)
    values = 20 + np.sin(np.arange(n) / 5) + rng.normal(0, 0.2, n)
    out = []
    for i, v in enumerate(values):
        p = pb.Point(time=T0 + i * STEP, name="m", group="host=a", dimensions=["host"], tags={"host": "a"})
        p.fieldsDouble["value"] = float(v)
        out.append(p)
    return out


def test_arima_fits_in_the_background_while_the_fallback_scores(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()
    real_fit = forecast_module.fit_arima

    def slow_fit(*args: object) -> object:  # a fit that takes as long as the test wants
        release.wait(30)
        return real_fit(*args)

    monkeypatch.setattr(forecast_module, "fit_arima", slow_fit)
    harness = Harness(ForecastUDF(), field="value", model="arima", max_p=1, max_d=0, max_q=1, history=100,
                      refit_every=0, calibration="none")
    assert harness.response.success, harness.response.error
    stream = points(300)
    started = time.monotonic()
    out = harness.feed(stream[:200])  # the fit is due at point 100 and blocked: points still flow
    assert time.monotonic() - started < 20
    assert len(out) == 200
    assert all("predicted" not in p.fieldsDouble for p in out[:99])
    assert all("predicted" in p.fieldsDouble and math.isfinite(p.fieldsDouble["lower"]) for p in out[100:])
    detector = harness.udf.groups["host=a"]
    assert detector.order is None  # Holt-Winters, the fallback, scored them
    release.set()
    harness.udf.settle(30)
    out = harness.feed(stream[200:])
    assert len(out) == 100 and all("predicted" in p.fieldsDouble for p in out)
    assert detector.order is not None  # installed at the next point
