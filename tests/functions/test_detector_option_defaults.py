"""A detector UDF's option defaults are its detector's constructor defaults.

The UDF modules declare defaults themselves so that answering Kapacitor's Info never
imports the detector (scipy, scikit-learn); this test keeps the two declarations equal.
"""

from __future__ import annotations

import inspect

import pytest

from udfs.detectors.calibration import CALIBRATION_PARAMETERS
from udfs.functions import FUNCTIONS, load
from udfs.functions.detector_udf import DetectorUDF

DETECTOR_UDFS = [name for name in sorted(FUNCTIONS) if issubclass(load(name), DetectorUDF)]


@pytest.mark.parametrize("name", DETECTOR_UDFS)
def test_option_defaults_match_the_detector(name: str) -> None:
    cls = load(name)
    udf = cls()
    config = {k: v for k, v in cls.options.defaults().items() if k not in CALIBRATION_PARAMETERS}
    params = udf.detector_params(config)
    signature = inspect.signature(cls.detector_class())
    for key, value in params.items():
        default = signature.parameters[key].default
        assert value == default, f"@{name}().{key}() defaults to {value!r}, the detector to {default!r}"
