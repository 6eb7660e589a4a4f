"""See what the detectors find before deploying: run UDFs over a series, compare, plot.

``udfs analyze`` (and ``udfs web``, ``udfs backtest``) run the detector UDFs over a
file or an InfluxDB series through the same code Kapacitor runs (the UDF classes'
sans-IO handlers), combine their verdicts with a consensus rule, print a summary,
and write plots (:mod:`udfs.analysis.plot_png`, :mod:`udfs.analysis.plot_html`) and
a JSON result. Nothing here is imported by ``udfs run``.
"""
