#!/usr/bin/env python3
"""Generate ADSL line states of N routers with retrains and flapping, into InfluxDB.

Each router is polled every ``--interval`` (90 s)::

    adsl_connection,host=router1 value="SHOWTIME",snr=31.2,crc=120i

``value`` is the line state, ``SHOWTIME`` (in sync) or ``TRAINING`` (re-syncing);
``snr`` the downstream noise margin in dB (it sags in the polls before a retrain and
drops while training); ``crc`` a cumulative error counter. Retrains (1-3 polls of
``TRAINING``) come at random, ``--retrains-per-day`` per router on average; a
flapping episode is 7 retrains within 20-40 minutes (what ``@edge()``'s default
``flap_count=5``/``flap_window=1h`` flags). ``--labels`` lists every retrain and every
flapping episode with its host and [start, end) times.

    python ingestion-scripts/adsl_data.py --routers 3 --duration 2d --labels adsl-labels.csv
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from ingestion import (
    DURATION,
    NS,
    TIME,
    Counted,
    Sink,
    format_time,
    labels_option,
    sink_options,
    span_start,
    write_labels,
)

from udfs.io.records import Record

FLAP_RETRAINS = 7  # retrains in one flapping episode
FLAP_SPACING = (3, 5)  # polls from one retrain's start to the next one's, in an episode
GUARD = 10  # polls of SHOWTIME kept around every event, so events never merge
SAG = 4  # polls before a retrain in which the SNR sags


@dataclass(frozen=True)
class Retrain:
    host: str
    first_poll: int
    polls: int  # polls in TRAINING
    episode: int | None  # index of its flapping episode, if any


def _place(free: list[bool], length: int, rng: random.Random) -> int | None:
    """A random start of ``length`` free polls (with guards), marked used; None when none is left."""
    def fits(i: int) -> bool:
        return all(free[i - GUARD:i + length + GUARD])

    last = len(free) - length - GUARD - 1
    if last < GUARD:
        return None
    # Random tries are fast while there is room; the scan finds the last gaps.
    start = next((i for i in (rng.randint(GUARD, last) for _ in range(50)) if fits(i)), None)
    if start is None:
        starts = [i for i in range(GUARD, last + 1) if fits(i)]
        if not starts:
            return None
        start = rng.choice(starts)
    for i in range(start, start + length):
        free[i] = False
    return start


def plan(hosts: list[str], polls: int, per_day: float, flapping: int, interval: int,
         rng: random.Random) -> list[Retrain]:
    """Flapping episodes first (hosts in turn), then single retrains, never overlapping on a host."""
    free = {host: [True] * polls for host in hosts}
    out: list[Retrain] = []
    for episode in range(flapping):
        host = hosts[episode % len(hosts)]
        gaps = [rng.randint(*FLAP_SPACING) for _ in range(FLAP_RETRAINS - 1)]
        length = sum(gaps) + 2
        start = _place(free[host], length, rng)
        if start is None:
            raise click.UsageError("no room for the flapping episodes: use a longer --duration or fewer --flapping")
        offsets = [0] + [sum(gaps[:k + 1]) for k in range(len(gaps))]
        out.extend(Retrain(host, start + off, rng.randint(1, 2), episode) for off in offsets)
    days = polls * interval / (86400 * NS)
    for host in hosts:
        wanted = sum(1 for _ in range(polls) if rng.random() < per_day * days / polls)
        for _ in range(wanted):
            length = rng.randint(1, 3)
            start = _place(free[host], length, rng)
            if start is None:
                break  # a short span holds fewer retrains than the rate asks: fine
            out.append(Retrain(host, start, length, None))
    return sorted(out, key=lambda r: (r.first_poll, r.host))


def generate(hosts: list[str], start: int, polls: int, interval: int, retrains: list[Retrain], seed: int,
             measurement: str) -> Iterator[Record]:
    noise = random.Random(seed)
    training: dict[str, set[int]] = {host: set() for host in hosts}
    sagging: dict[str, set[int]] = {host: set() for host in hosts}
    for r in retrains:
        training[r.host].update(range(r.first_poll, r.first_poll + r.polls))
        sagging[r.host].update(range(r.first_poll - SAG, r.first_poll))
    crc = dict.fromkeys(hosts, 0)
    for poll in range(polls):
        for index, host in enumerate(hosts):
            in_training = poll in training[host]
            snr = 31.0 + (index % 3) + noise.gauss(0.0, 0.4)
            snr -= 6.0 if in_training else 1.5 if poll in sagging[host] else 0.0
            crc[host] += noise.randint(5, 40) if in_training else int(noise.random() < 0.05)
            fields: dict[str, float | int | str | bool] = {
                "value": "TRAINING" if in_training else "SHOWTIME", "snr": round(snr, 1), "crc": crc[host],
            }
            yield Record(start + poll * interval, measurement, {"host": host}, fields)


def label_rows(retrains: list[Retrain], start: int, interval: int) -> list[dict[str, Any]]:
    """One row per retrain ([first TRAINING poll, first SHOWTIME poll after)) and per flapping episode."""
    def at(poll: int) -> int:
        return start + poll * interval

    rows: list[dict[str, Any]] = [
        {"host": r.host, "kind": "retrain", "polls": r.polls, "start_ns": at(r.first_poll),
         "end_ns": at(r.first_poll + r.polls)} for r in retrains
    ]
    episodes = sorted({(r.episode, r.host) for r in retrains if r.episode is not None}, key=str)
    for episode, host in episodes:
        inside = [r for r in retrains if r.episode == episode]
        rows.append({"host": host, "kind": "flapping", "polls": sum(r.polls for r in inside),
                     "start_ns": at(inside[0].first_poll), "end_ns": at(inside[-1].first_poll + inside[-1].polls)})
    return sorted(rows, key=lambda row: (row["start_ns"], row["host"]))


@click.command(context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.option("--start", type=TIME, default=None, help="First poll's time (default: --duration before now).")
@click.option("--duration", type=DURATION, default="2d", show_default=True, help="Span of the data.")
@click.option("--interval", type=DURATION, default="90s", show_default=True, help="Polling interval.")
@click.option("--routers", type=click.IntRange(1, 10000), default=2, show_default=True, help="Number of routers.")
@click.option("--retrains-per-day", type=click.FloatRange(min=0), default=3.0, show_default=True,
              help="Average single retrains per router and day.")
@click.option("--flapping", type=click.IntRange(min=0), default=1, show_default=True,
              help="Flapping episodes (7 retrains within 20-40 minutes), routers in turn.")
@click.option("--seed", type=int, default=1, show_default=True, help="Same seed, same data.")
@click.option("--measurement", default="adsl_connection", show_default=True)
@labels_option("Write every retrain and flapping episode to this file")
@sink_options
def main(start: int | None, duration: int, interval: int, routers: int, retrains_per_day: float,
         flapping: int, seed: int, measurement: str, labels: Path | None, sink: Sink) -> None:
    """Write ADSL line states (SHOWTIME/TRAINING) with SNR and CRC counters of N routers."""
    polls = duration // interval
    if polls < 1:
        raise click.BadParameter("must not exceed --duration", param_hint="--interval")
    start = span_start(start, polls * interval, interval)
    hosts = [f"router{i + 1}" for i in range(routers)]
    planned = plan(hosts, polls, retrains_per_day, flapping, interval, random.Random(seed + 1))
    if labels is not None:
        write_labels(labels, measurement, label_rows(planned, start, interval))
    records = Counted(lambda: generate(hosts, start, polls, interval, planned, seed, measurement), polls * routers)
    written = sink.write(records)
    click.echo(f"{written} points of {measurement} ({routers} router(s) from {format_time(start)}, "
               f"{len(planned)} retrains) -> {sink.where}", err=True)
    for row in label_rows(planned, start, interval):
        if row["kind"] == "flapping":
            start_text, end_text = format_time(row["start_ns"]), format_time(row["end_ns"])
            click.echo(f"  flapping on {row['host']} from {start_text} to {end_text}", err=True)


if __name__ == "__main__":
    main()
