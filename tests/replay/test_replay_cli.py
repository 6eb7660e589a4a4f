"""`udfs replay` as a user runs it: outputs, snapshots, and clear refusals."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from udfs.io.lineprotocol import parse_lines

CSV = "timestamp,value\n" + "".join(f"2024-01-01 00:{i // 60:02d}:{i % 60:02d},{float(i % 7)}\n" for i in range(40))


def udfs(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "udfs", *args], input=stdin, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def series(tmp_path: Path) -> Path:
    path = tmp_path / "series.csv"
    path.write_text(CSV)
    return path


def averages(text: str) -> list[tuple[int, float]]:
    return [(r.time, float(r.fields["average"])) for r in parse_lines(text.splitlines())]


def test_moving_average_output_is_the_moving_average(series: Path) -> None:
    done = udfs("replay", "moving_average", "-i", str(series), "-o", "field=value", "-o", "size=4", "--no-progress")
    assert done.returncode == 0, done.stderr
    values = [float(i % 7) for i in range(40)]
    expected = [sum(values[i - 3 : i + 1]) / 4 for i in range(3, 40)]
    got = [v for _, v in averages(done.stdout)]
    assert got == pytest.approx(expected, rel=1e-12)
    assert "40 points sent, 37 points returned" in done.stderr


def test_snapshot_then_restore_continues_where_it_stopped(series: Path, tmp_path: Path) -> None:
    lines = CSV.splitlines()
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("\n".join(lines[:21]) + "\n")
    second.write_text("\n".join([lines[0], *lines[21:]]) + "\n")
    snap = tmp_path / "state.json"
    whole = udfs("replay", "moving_average", "-i", str(series), "-o", "field=value", "-o", "size=5", "--no-progress")
    part1 = udfs("replay", "moving_average", "-i", str(first), "-o", "field=value", "-o", "size=5",
                 "--snapshot-out", str(snap), "--no-progress")
    part2 = udfs("replay", "moving_average", "-i", str(second), "-o", "field=value", "-o", "size=5",
                 "--restore", str(snap), "--no-progress")
    assert whole.returncode == part1.returncode == part2.returncode == 0, part2.stderr
    assert averages(part1.stdout) + averages(part2.stdout) == averages(whole.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nosuch", "-i", "{series}"], "unknown UDF 'nosuch'"),
        (["moving_average", "-i", "{series}", "-o", "size=2.5", "-o", "field=value"],
         "unexpected arg to size, got DOUBLE expected INT"),
        (["moving_average", "-i", "{series}", "-o", "nosuch=1"], 'no method or property "nosuch"'),
        (["moving_average", "-i", "{series}", "-o", "size=0", "-o", "field=value"], "size() must be an integer >= 1"),
        (["moving_average", "-i", "{series}"], "missing required option(s): field()"),
        (["mirror_batch", "-i", "{series}"], "wants batches"),
        (["mirror", "-i", "{series}", "--batch-period", "1h"], "wants a stream"),
        (["mirror", "-i", "/nonexistent/file.csv"], "/nonexistent/file.csv"),
        (["mirror", "-i", "{series}", "--timeout", "soon"], "not a duration"),
    ],
)
def test_bad_invocations_are_refused_clearly(series: Path, args: list[str], message: str) -> None:
    done = udfs("replay", *[a.replace("{series}", str(series)) for a in args], "--no-progress")
    assert done.returncode != 0
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr


def test_a_bad_input_line_stops_with_its_line_number(tmp_path: Path) -> None:
    path = tmp_path / "bad.lp"
    path.write_text("m value=1 1\nm value=2 2\nm value= 3\n")
    done = udfs("replay", "mirror", "-i", str(path), "--no-progress")
    assert done.returncode != 0
    assert "line 3" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.influxdb
def test_output_written_to_influxdb(series: Path, influxdb_server: Any, influxdb_database: str) -> None:
    done = udfs("replay", "moving_average", "-i", str(series), "-o", "field=value", "-o", "size=4",
                "--influx-url", influxdb_server.url, "--influx-db", influxdb_database,
                "--out-measurement", "avg", "--output", "/dev/null", "--no-progress")
    assert done.returncode == 0, done.stderr
    rows = list(influxdb_server.client(influxdb_database).query('SELECT "average" FROM "avg"').get_points())
    assert len(rows) == 37
    assert rows[0]["average"] == pytest.approx((0 + 1 + 2 + 3) / 4)


SAMPLE_UDFS = Path(__file__).resolve().parent.parent / "protocol" / "sample_udfs.py"


def test_commas_in_option_values_reach_the_udf_as_one_option(series: Path, tmp_path: Path) -> None:
    sent = tmp_path / "sent.bin"
    done = udfs("replay", "recorded", "--prog", f"{sys.executable} {SAMPLE_UDFS} recsock", "-i", str(series),
                "-o", "field=mad,sigma", "-o", r"pair=a\,b, 1.5", "-o", "flag", "--record-requests", str(sent),
                "--output", str(tmp_path / "out.lp"), "--no-progress")
    assert done.returncode == 0, done.stderr
    from udfs.protocol import split_frames
    from udfs.protocol import udf_pb2 as pb

    init = next(r.init for r in map(pb.Request.FromString, split_frames(sent.read_bytes())) if r.HasField("init"))
    got = [(o.name, [getattr(v, v.WhichOneof("value")) for v in o.values]) for o in init.options]
    assert got == [("field", ["mad,sigma"]), ("pair", ["a,b", 1.5]), ("flag", [])]


@pytest.mark.parametrize(("precision", "factor"), [("s", 10**9), ("ms", 10**6), ("u", 10**3), ("h", 3600 * 10**9)])
def test_precision_scales_line_protocol_timestamps(tmp_path: Path, precision: str, factor: int) -> None:
    path = tmp_path / "in.lp"
    path.write_text("m value=1 472222\nm value=2 472223\n")
    done = udfs("replay", "mirror", "-i", str(path), "--precision", precision, "--no-progress")
    assert done.returncode == 0, done.stderr
    assert [r.time for r in parse_lines(done.stdout.splitlines())] == [472222 * factor, 472223 * factor]


def test_precision_choices_are_the_line_protocol_ones() -> None:
    from udfs.io.lineprotocol import PRECISIONS
    from udfs.replay.cli import TIME_PRECISIONS

    assert sorted(TIME_PRECISIONS) == sorted(PRECISIONS)
    done = udfs("replay", "mirror", "-i", "-", "--precision", "d", stdin="")
    assert done.returncode == 2 and "--precision" in done.stderr


def test_influxdb_csv_export_from_stdin_is_replayed_with_its_measurements_and_groups(tmp_path: Path) -> None:
    # What `influx -format csv -execute 'SELECT usage FROM cpu GROUP BY host'` prints.
    export = ('name,tags,time,usage\ncpu,host=a,1700000000000000000,0.5\ncpu,host=a,1700000002000000000,2.5\n'
              'name,tags,time,usage\ncpu,host=b,1700000001000000000,1.5\n')
    done = udfs("replay", "mirror", "-i", "-", "--format", "csv", "--group-by", "host", "--no-progress",
                stdin=export)
    assert done.returncode == 0, done.stderr
    got = [(r.measurement, r.tags, r.time, r.fields) for r in parse_lines(done.stdout.splitlines())]
    assert got == [
        ("cpu", {"host": "a"}, 1700000000000000000, {"usage": 0.5}),
        ("cpu", {"host": "a"}, 1700000002000000000, {"usage": 2.5}),
        ("cpu", {"host": "b"}, 1700000001000000000, {"usage": 1.5}),
    ]
