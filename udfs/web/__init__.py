"""``udfs web``: the analysis as an HTTP service (FastAPI) with a small page to drive it.

:mod:`udfs.web.jobs` runs each analysis in a worker process of a bounded pool (a slow
job never blocks the server, and is killed at its time limit); :mod:`udfs.web.app`
is the API and serves the page in ``static/``; :mod:`udfs.web.cli` the command.
"""
