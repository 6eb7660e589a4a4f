"""The network ensemble: against its members run alone, and on the shipped ICMP sample against its truth."""

from __future__ import annotations

import functools
import json
from importlib import resources

import pytest

from udfs.detectors import REGISTRY
from udfs.detectors.calibration import calibrated
from udfs.io.lineprotocol import parse_lines
from udfs.io.records import Record
from udfs.replay.session import ReplayConfig, replay_records

GRACE_NS = 300 * 10**9
MEMBERS = ("changepoint", "distribution_shift", "mode_change", "spike", "loss")


def load() -> tuple[list[Record], dict[str, list[tuple[int, dict]]], list[dict]]:
    data = resources.files("udfs.data")
    with (data / "icmp_latency.lp").open() as lines:
        records = list(parse_lines(lines))
    series: dict[str, list[tuple[int, dict]]] = {}
    for record in records:
        series.setdefault(record.tags["url"], []).append((record.time, dict(record.fields)))
    return records, series, json.loads((data / "icmp_latency.truth.json").read_text())["events"]


RECORDS, SERIES, TRUTH = load()


def inputs(fields: dict) -> list:
    loss = fields.get("percent_packet_loss")
    return [fields.get("average_response_ms"), None if loss is None else loss / 100.0]


def alerts(**params: object) -> dict[str, list[int]]:
    out = {}
    for url, points in SERIES.items():
        detector = REGISTRY["network"](**params)
        out[url] = [t for t, fields in points if detector.update(t, inputs(fields)).is_anomaly]
    return out


def in_event(event: dict, t: int) -> bool:
    return event["start"] <= t <= max(event["stop"], event["start"] + GRACE_NS)


def false_alarms(found: dict[str, list[int]]) -> list[int]:
    return [t for url, times in found.items() for t in times
            if not any(e["url"] == url and e["start"] <= t <= e["stop"] + GRACE_NS for e in TRUTH)]


def member_alone(name: str, member_verdicts: str) -> object:
    """A member as the ensemble runs it: bare ('own'), or calibrated as documented: SPOT on the
    latency members' scores, loss by its own rule, no cooldown."""
    if member_verdicts == "own":
        return REGISTRY[name]()
    calibration = "none" if name == "loss" else "spot"
    return calibrated(REGISTRY[name])(calibration=calibration, cooldown=0)


@functools.cache
def member_flags(member_verdicts: str) -> dict[str, dict[str, list[int]]]:
    """url -> member -> indices of the points the member, run alone, flags."""
    out: dict[str, dict[str, list[int]]] = {}
    for url, points in SERIES.items():
        alone = {name: member_alone(name, member_verdicts) for name in MEMBERS}
        flagged: dict[str, list[int]] = {name: [] for name in MEMBERS}
        out[url] = flagged
        for i, (t, fields) in enumerate(points):
            latency, loss = inputs(fields)
            for name, member in alone.items():
                value = loss if name == "loss" else latency
                if value is not None and member.update(t, value).is_anomaly:
                    flagged[name].append(i)
    return out


@pytest.mark.parametrize(("k", "span", "member_verdicts"), [(1, 30, "calibrated"), (2, 5, "own")])
def test_alerts_equal_a_naive_vote_over_the_members_run_alone(k: int, span: int, member_verdicts: str) -> None:
    for url, points in SERIES.items():
        flagged = member_flags(member_verdicts)[url]
        ensemble = REGISTRY["network"](k=k, span=span, member_verdicts=member_verdicts)
        got, want = [], []
        previous = 0
        for i, (t, fields) in enumerate(points):
            votes = sum(any(i - span < j <= i for j in flagged[name]) for name in MEMBERS)
            if votes >= k > previous:
                want.append(i)
            previous = votes
            if ensemble.update(t, inputs(fields)).is_anomaly:
                got.append(i)
        assert got == want


def test_union_finds_every_event_of_the_icmp_sample_with_one_alert_per_event() -> None:
    found = alerts()
    for event in TRUTH:
        assert any(in_event(event, t) for t in found[event["url"]]), event
    assert len(false_alarms(found)) <= 3, false_alarms(found)
    # One alert per event: no more alerts than events and false alarms.
    assert sum(map(len, found.values())) <= len(TRUTH) + len(false_alarms(found))


def test_union_of_the_bare_members_finds_every_event_of_the_icmp_sample() -> None:
    found = alerts(member_verdicts="own")
    for event in TRUTH:
        assert any(in_event(event, t) for t in found[event["url"]]), event
    assert len(false_alarms(found)) <= 3, false_alarms(found)
    # Merged: fewer alerts than the members' own flags put together.
    members = sum(len(flags) for by_member in member_flags("own").values() for flags in by_member.values())
    assert sum(map(len, found.values())) < members


def test_two_members_agreeing_find_the_shifts_without_false_alarms() -> None:
    # With their bare flags: calibrated members seldom flag within span of each other.
    found = alerts(k=2, member_verdicts="own")
    for event in TRUTH:
        if event["kind"] in ("level_shift", "mode_change", "jitter"):
            assert any(in_event(event, t) for t in found[event["url"]]), event
    assert false_alarms(found) == []


def test_udf_on_the_ping_measurement_like_the_tickscript() -> None:
    out: list[Record] = []
    config = ReplayConfig(name="network", options=["field=average_response_ms", "emit=anomalies"],
                          group_by=["host", "url"], log_level="warning", timeout=60)
    replay_records(config, RECORDS, out.append)
    found: dict[str, list[int]] = {}
    for record in out:
        found.setdefault(record.tags["url"], []).append(record.time)
        assert record.fields["is_anomaly"] is True and record.fields["fired"]
    assert found == {url: times for url, times in alerts().items() if times}
