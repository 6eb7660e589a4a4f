"""Parameter declarations shared by detectors and UDF options: constraints and durations.

Imports nothing from the rest of the package (and nothing heavy), so every layer may use it.
"""
