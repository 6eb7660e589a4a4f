"""Memory and snapshots of many groups: RSS, snapshot seconds and bytes, restore seconds.

Two measurements, each in a fresh child process so that its RSS is its own:

``--groups G --window W`` (default @mad(), 10,000 x 1,000): one UDF instance (one task
node) receives W points in each of G groups through ``UDF.point`` (the path the agent
takes for every point, minus the wire), then answers a snapshot, and a second instance
restores it. Reported: RSS before and after the points (VmRSS), bytes per stored value
((after - before) / (G x W)), the snapshot's seconds and bytes, the restore's seconds,
and whether the restored state writes the very same bytes again. ``--json`` also
times the version 1 encoding (the JSON text every UDF wrote before the container).

``--per-detector``: every stream detector UDF with its default options (those of
``bench_udfs.py``), one group fed ``--points`` points of the NAB machine temperature
series; the snapshot bytes of that group, in the container and as JSON text.

    python bench/bench_groups.py --groups 10000 --window 1000 --json
    python bench/bench_groups.py --groups 10000 --window 1000 --option calibration=none --fill learn
    python bench/bench_groups.py --groups 10000 --window 1000 --option calibration=none --fill learn --decimals 2
    python bench/bench_groups.py --per-detector --points 10000
"""

from __future__ import annotations

import argparse
import gc
import json
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))  # bench_udfs, when run from elsewhere

T0 = 1_700_000_000_000_000_000
STEP = 10_000_000_000  # 10 s


def rss_bytes() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS in /proc/self/status")


def typed(text: str) -> Any:
    """An option value from the command line: int, float, Kapacitor duration (as ns), else string."""
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    if re.fullmatch(r"\d+(ns|us|ms|s|m|h|d|w)", text):
        from udfs.params.durations import parse_duration

        return ("duration", parse_duration(text))
    return text


def init_request(options: dict[str, Any]) -> Any:
    from bench_udfs import option

    from udfs.protocol import udf_pb2 as pb

    request = pb.InitRequest(taskID="bench", nodeID="udf1")
    request.options.extend(option(name, value) for name, value in options.items())
    return request


def new_udf(name: str, options: dict[str, Any]) -> Any:
    from udfs.functions import load
    from udfs.protocol import Outbox

    udf = load(name)()
    udf.outbox = Outbox(lambda data: None)
    response = udf.init(init_request(options))
    if not response.success:
        raise SystemExit(f"@{name}() refused its options: {response.error}")
    return udf


def child_groups(name: str, groups: int, window: int, points: int, options: dict[str, Any],
                 with_json: bool, fill: str, decimals: int | None) -> dict[str, Any]:
    import numpy as np

    from udfs.functions.snapshots import decode_snapshot
    from udfs.protocol import udf_pb2 as pb

    udf = new_udf(name, options)
    if fill == "learn" and (udf.calibration or {}).get("calibration", "none") != "none":
        raise SystemExit("--fill learn leaves out the calibration's state: give --option calibration=none")
    rng = np.random.default_rng(1)
    gc.collect()
    before = rss_bytes()
    started = time.perf_counter()
    for g in range(groups):
        group = f"host=h{g:06d}"
        values = rng.normal(50.0, 5.0, points)
        values = (values.round(decimals) if decimals is not None else values).tolist()
        if fill == "learn":  # the detector's state as streaming leaves it, without scoring each point
            detector = udf.group_state(group)
            for i, x in enumerate(values):
                detector.learn_one(T0 + i * STEP, x)
            continue
        point = pb.Point(name="cpu", group=group, tags={"host": group[5:]})
        for i, x in enumerate(values):
            point.time = T0 + i * STEP
            point.fieldsDouble["value"] = x
            udf.point(point)
    fill_seconds = time.perf_counter() - started
    gc.collect()
    after = rss_bytes()
    started = time.perf_counter()
    data = udf.snapshot().snapshot
    snapshot_s = time.perf_counter() - started
    result: dict[str, Any] = {
        "udf": name, "groups": len(udf.groups), "window": window, "points": points, "options": options,
        "fill": fill, "decimals": decimals,
        "rss_before": before, "rss_after": after, "bytes_per_value": (after - before) / (groups * min(window, points)),
        "fill_s": fill_seconds, "snapshot_s": snapshot_s, "snapshot_bytes": len(data),
    }
    if with_json:
        document = decode_snapshot(data)
        started = time.perf_counter()
        text = json.dumps(document, separators=(",", ":"), allow_nan=True).encode()
        result["json_s"] = time.perf_counter() - started
        result["json_bytes"] = len(text)
        del document, text
    del udf
    gc.collect()
    restored = new_udf(name, options)
    started = time.perf_counter()
    ok = restored.restore(pb.RestoreRequest(snapshot=data)).success
    result["restore_s"] = time.perf_counter() - started
    result["restored_groups"] = len(restored.groups)
    result["exact"] = ok and restored.snapshot().snapshot == data
    return result


def child_per_detector(points: int) -> list[dict[str, Any]]:
    from bench_udfs import UDFS, series

    from udfs.functions import REGISTRY
    from udfs.functions.base import PerGroupUDF
    from udfs.functions.snapshots import decode_snapshot, encode_snapshot
    from udfs.protocol import EdgeType, FrameDecoder
    from udfs.protocol import udf_pb2 as pb

    requests = FrameDecoder(pb.Request).feed(series(points))
    rows = []
    for name in UDFS:
        cls = REGISTRY[name]
        if cls.wants != EdgeType.STREAM or not issubclass(cls, PerGroupUDF):
            continue
        options = dict(UDFS[name])
        if "emit" in {spec.name for spec in cls.options}:
            options["emit"] = "anomalies" if name != "edge" else "changes"
        udf = new_udf(name, options)
        for request in requests:
            udf.point(request.point)
        udf.settle(60.0)
        data = udf.snapshot().snapshot
        document = decode_snapshot(data)
        text = json.dumps(document, separators=(",", ":"), allow_nan=True).encode()
        calibration = document["state"].get("alerting")
        rows.append({"udf": name, "points": points, "bytes": len(data), "json_bytes": len(text),
                     "calibration_bytes": len(encode_snapshot({"alerting": calibration})) if calibration else 0})
        udf.close()
    return rows


def run_child(args: list[str]) -> Any:
    out = subprocess.run([sys.executable, __file__, "--child", *args], check=True, stdout=subprocess.PIPE, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--udf", default="mad")
    parser.add_argument("--groups", type=int, default=10_000)
    parser.add_argument("--window", type=int, default=1_000, help="the UDF's .window() (and points per group)")
    parser.add_argument("--points", type=int, default=None,
                        help="points per group (default: the window); with --per-detector: points (default 10000)")
    parser.add_argument("--option", action="append", default=[], metavar="NAME=VALUE",
                        help="another option of the UDF, e.g. calibration=none, max_groups=20000")
    parser.add_argument("--json", action="store_true", help="also time the version 1 JSON encoding")
    parser.add_argument("--fill", choices=("point", "learn"), default="point",
                        help="point: UDF.point per point (default); learn: the detector's learn_one only, "
                             "about 4x faster, for calibration=none")
    parser.add_argument("--decimals", type=int, default=None,
                        help="round the values to this many decimal places, as metrics read from text are "
                             "(default: full doubles, the largest snapshot)")
    parser.add_argument("--per-detector", action="store_true", help="snapshot bytes of one group, every detector")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        if args.per_detector:
            print(json.dumps(child_per_detector(args.points or 10_000)))
        else:
            options = {"window": args.window, "emit": "anomalies"}
            options.update({k: typed(v) for k, v in (o.split("=", 1) for o in args.option)})
            result = child_groups(args.udf, args.groups, args.window, args.points or args.window, options, args.json,
                                  args.fill, args.decimals)
            print(json.dumps(result))
        return
    forwarded = sys.argv[1:]
    if args.per_detector:
        rows = run_child(forwarded)
        print(f"| UDF | snapshot bytes, one group, {rows[0]['points']:,} points | of which calibration "
              "| as JSON text (version 1) |")
        print("| --- | --- | --- | --- |")
        for row in rows:
            calibration = f"{row['calibration_bytes']:,}" if row["calibration_bytes"] else "-"
            print(f"| `{row['udf']}` | {row['bytes']:,} | {calibration} | {row['json_bytes']:,} |")
        return
    r = run_child(forwarded)
    mib = 1024 * 1024
    print(f"@{r['udf']}() {r['groups']:,} groups x {r['points']:,} points, options {r['options']}, "
          f"fed by {r['fill']}" + (f", values to {r['decimals']} decimals" if r["decimals"] is not None else ""))
    print(f"  RSS {r['rss_before'] / mib:.0f} MiB before, {r['rss_after'] / mib:.0f} MiB after "
          f"({r['bytes_per_value']:.1f} bytes per stored value); {r['fill_s']:.0f} s to feed")
    print(f"  snapshot {r['snapshot_s']:.2f} s, {r['snapshot_bytes']:,} bytes; restore {r['restore_s']:.2f} s "
          f"({r['restored_groups']:,} groups), rewritten identically: {r['exact']}")
    if "json_s" in r:
        print(f"  as version 1 JSON text: {r['json_s']:.2f} s to encode, {r['json_bytes']:,} bytes")


if __name__ == "__main__":
    main()
