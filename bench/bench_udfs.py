"""Per-point cost of every detector UDF, through the real protocol in process mode.

Each UDF runs as `udfs run NAME` and receives Init (emit all points), then N stream
points of one series (NAB machine temperature, repeated as needed; one group), and
every answer is read back. Reported: points/s for that one series, and the UDF
process's own CPU time per point (user + system of all its threads, from
/proc/PID/stat, from just after Init until the last answer).

    python bench/bench_udfs.py --points 20000
    python bench/bench_udfs.py --udf sigma --udf mad --points 50000
"""

from __future__ import annotations

import argparse
import csv
from importlib import resources

from bench_mirror import bench_process

from udfs.protocol import encode_frame
from udfs.protocol import udf_pb2 as pb

# UDF -> options (emit every point so answers can be counted).
UDFS: dict[str, list[tuple[str, str | float | int]]] = {
    "mirror": [],
    "moving_average": [("field", "value"), ("size", 1)],  # size 1: one answer per point
    "edge": [("emit", "all"), ("high_enter", 90.0), ("high_exit", 85.0)],
    "mad": [("emit", "all")],
    "zscore": [("emit", "all")],
    "iqr": [("emit", "all")],
    "sigma": [("emit", "all")],
    "matrix_profile": [("emit", "all")],
    # one field; trained on the first 500 points in the background, refitted every 5000
    "isolation_forest": [("emit", "all"), ("train_size", 500), ("refit_every", 5000)],
    "contextual": [("emit", "all")],
    "cad_ose": [("emit", "all")],
    "knn_cad": [("emit", "all")],
    "relative_entropy": [("emit", "all")],
    "consensus": [("emit", "all")],  # contextual, mad, sigma
    "spectral_residual": [("emit", "all")],
    # refit on the last 500 windows every 500 points, in line
    "lof": [("emit", "all")],
    "one_class_svm": [("emit", "all")],
    "dbscan": [("emit", "all")],
    "pca": [("emit", "all")],
    # a Holt-Winters fit on 500 points, then one every 1000
    "forecast": [("emit", "all")],
    # MSTL with a day and a week of 5-minute data, fitted once (4,100 points) in the background
    "forecast_mstl": [("emit", "all"), ("model", "mstl"), ("periods", "288,2016"), ("history", 4100),
                      ("refit_every", 0)],
    # ARIMA order by AIC over 18 candidates on 500 points, refitted every 10000, in the background
    "forecast_arima": [("emit", "all"), ("model", "arima"), ("refit_every", 10000)],
    # seasonal ARIMA, a day of 5-minute data: D by seasonal strength, 18 SARIMAX fits on 600 points
    "forecast_sarima": [("emit", "all"), ("model", "arima"), ("periods", "288"), ("history", 600),
                        ("refit_every", 10000)],
    # Prophet (the optional extra) on 500 points, refitted every 10000, a pandas predict per point
    "forecast_prophet": [("emit", "all"), ("model", "prophet"), ("refit_every", 10000)],
    "spike": [("emit", "all")],
    "changepoint": [("emit", "all")],
    "distribution_shift": [("emit", "all")],
    "mode_change": [("emit", "all")],
    "loss": [("emit", "all"), ("field", "loss")],  # a 0/1 loss flag, lost at every 7th point
    "network": [("emit", "all"), ("loss_field", "loss"), ("loss_scale", 1.0)],  # the value as latency
    # second stages: a first-stage candidate (is_anomaly) at every 50th point
    "daily_peak": [("emit", "all")],
    "irregular_unstable": [("emit", "all")],
}
#: Benchmarks of one UDF with other options, by label.
UDF_OF = {"forecast_mstl": "forecast", "forecast_arima": "forecast", "forecast_sarima": "forecast",
          "forecast_prophet": "forecast"}


def option(name: str, value: str | float | int | tuple[str, int]) -> pb.Option:
    """One Init option; ``("duration", ns)`` is a DURATION."""
    if isinstance(value, tuple):
        v = pb.OptionValue(type=pb.DURATION, durationValue=value[1])
    elif isinstance(value, str):
        v = pb.OptionValue(type=pb.STRING, stringValue=value)
    elif isinstance(value, bool):
        v = pb.OptionValue(type=pb.BOOL, boolValue=value)
    elif isinstance(value, float):
        v = pb.OptionValue(type=pb.DOUBLE, doubleValue=value)
    else:
        v = pb.OptionValue(type=pb.INT, intValue=value)
    return pb.Option(name=name, values=[v])


def series(n: int) -> bytes:
    path = resources.files("udfs.data").joinpath("machine_temperature.csv")
    with resources.as_file(path) as local, open(local) as f:
        values = [float(row["value"]) for row in csv.DictReader(f)]
    frames = []
    t0 = 1_386_000_000_000_000_000
    for i in range(n):
        request = pb.Request()
        p = request.point
        p.time = t0 + i * 300_000_000_000
        p.name = "machine_temperature"
        p.database = "telegraf"
        p.retentionPolicy = "autogen"
        p.fieldsDouble["value"] = values[i % len(values)]
        p.fieldsDouble["loss"] = float(i % 7 == 0)
        p.fieldsBool["is_anomaly"] = i % 50 == 0
        frames.append(encode_frame(request))
    return b"".join(frames)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--points", type=int, default=20_000, help="points per UDF (default 20000)")
    parser.add_argument("--udf", action="append", choices=sorted(UDFS), help="UDF to measure (default all)")
    args = parser.parse_args()
    payload = series(args.points)
    print("| UDF | points/s (one series) | UDF CPU per point |\n| --- | --- | --- |")
    for name in args.udf or list(UDFS):
        wall, cpu = bench_process(payload, args.points, udf=UDF_OF.get(name, name),
                                  options=[option(k, v) for k, v in UDFS[name]])
        print(f"| `{name}` | {args.points / wall:,.0f} | {cpu / args.points * 1e6:.1f} µs |", flush=True)


if __name__ == "__main__":
    main()
