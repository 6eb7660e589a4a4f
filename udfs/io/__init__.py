"""Series in and out: line protocol, CSV, InfluxDB reader/writer and the records they share.

Used alike by the replay driver, model training, evaluation and the ingestion scripts.
"""
