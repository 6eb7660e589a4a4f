"""Alert suppression: one alert per incident, per group."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["Cooldown"]


class Cooldown:
    """After an alert at ``t``, no further alert until ``t + cooldown`` (nanoseconds).

    NAB's earthgecko Skyline detector waits 12 hours after an anomaly, CAD OSE has a
    rest period: an incident is reported once, not at every point it lasts. Only an
    alert that got through starts a cooldown; suppressed ones do not prolong it. A
    point stamped before the last alert (out of order) is suppressed too.

    Examples
    --------
    >>> hour = 3_600 * 10**9
    >>> cooldown = Cooldown(hour)
    >>> [cooldown.update(t * hour // 4, True) for t in range(6)]
    [True, False, False, False, True, False]
    """

    def __init__(self, cooldown: int) -> None:
        self.cooldown = int(cooldown)
        self._last: int | None = None

    def allows(self, t: int) -> bool:
        """Whether an alert at ``t`` would get through (no state change)."""
        return self._last is None or t >= self._last + self.cooldown

    def learn_one(self, t: int, alerted: bool) -> None:
        if alerted:
            self._last = int(t)

    def update(self, t: int, alert: bool) -> bool:
        """The alert after suppression, remembered."""
        passed = alert and self.allows(t)
        self.learn_one(t, passed)
        return passed

    def state_dict(self) -> dict[str, Any]:
        return {"cooldown": self.cooldown, "last": self._last}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> Cooldown:
        cooldown = cls(int(state["cooldown"]))
        cooldown._last = None if state["last"] is None else int(state["last"])
        return cooldown
