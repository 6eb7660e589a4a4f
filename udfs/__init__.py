"""Kapacitor UDF agents for anomaly detection on InfluxDB time series."""

__version__ = "0.1.0"
