"""The HTTP API (FastAPI; OpenAPI at /docs and /openapi.json) and the page at /.

POST /api/analyses takes a file upload (CSV or line protocol) or names an InfluxDB
series, the detectors with their options and a consensus rule; it answers 202 with a
job id at once. GET /api/analyses/{id} gives the job's state and, when done, the JSON
result and summary; .../plot.png and .../plot.html the pictures.
"""

from __future__ import annotations

import hmac
import json
import time
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Annotated, Any

from fastapi import Depends, FastAPI, File, Form, HTTPException, Request, UploadFile
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field

from udfs import __version__
from udfs.web.jobs import Job, JobPool, PoolFull

__all__ = ["Settings", "create_app"]


@dataclass(frozen=True)
class Settings:
    """How the service is limited and protected (see ``udfs web --help``)."""

    token: str | None = None
    max_upload_bytes: int = 20 * 1024 * 1024
    workers: int = 2
    max_queued: int = 16
    job_timeout: float = 300.0
    #: InfluxDB servers a request may name (a request cannot point the server anywhere else).
    influx_urls: tuple[str, ...] = ()


class DetectorChoice(BaseModel):
    name: str = Field(description="Detector UDF name (GET /api/detectors).", examples=["mad"])
    options: dict[str, Any] = Field(default_factory=dict, description="TICKscript options, name -> value.",
                                    examples=[{"window": 50, "threshold": 4.0}])


class JobState(BaseModel):
    id: str
    status: str = Field(description="queued, running, done or failed")
    error: str | None = None
    summary: str | None = Field(None, description="The table `udfs analyze` prints.")
    result: dict[str, Any] | None = Field(None, description="The JSON result of `udfs analyze --json`.")
    plot_png: str | None = None
    plot_html: str | None = None
    seconds: float | None = Field(None, description="Run time so far or in total.")


class _BodyLimit:
    """Refuse request bodies over ``limit`` bytes (413), declared or streamed, before they are parsed."""

    def __init__(self, app: Any, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await JSONResponse({"detail": f"request body over the limit of {self.limit} bytes"},
                               status_code=413)(scope, receive, send)
            return
        seen = 0

        async def limited() -> Any:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise HTTPException(413, f"request body over the limit of {self.limit} bytes")
            return message

        await self.app(scope, limited, send)


def _state(job: Job) -> JobState:
    end = job.finished or (None if job.started is None else time.time())
    done = job.status == "done"
    return JobState(
        id=job.id, status=job.status, error=job.error, summary=job.output.get("summary") if done else None,
        result=job.output.get("result") if done else None,
        plot_png=f"/api/analyses/{job.id}/plot.png" if done else None,
        plot_html=f"/api/analyses/{job.id}/plot.html" if done else None,
        seconds=None if end is None or job.started is None else round(end - job.started, 3),
    )


def create_app(settings: Settings | None = None) -> FastAPI:
    """The application; its job pool starts with it and stops at shutdown."""
    settings = settings or Settings()
    pool_holder: dict[str, JobPool] = {}

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> Any:
        pool_holder["pool"] = JobPool(workers=settings.workers, max_queued=settings.max_queued,
                                      timeout=settings.job_timeout)
        yield
        pool_holder.pop("pool").close()

    app = FastAPI(title="udfs analysis", lifespan=lifespan, version=__version__,
                  description="Run the Kapacitor anomaly-detection UDFs over a series before deploying them: "
                              "upload CSV/line protocol or name an InfluxDB series, choose detectors and a "
                              "consensus rule, get the JSON result and the plot.")

    def pool() -> JobPool:
        return pool_holder["pool"]

    def authorised(request: Request) -> None:
        if settings.token is None:
            return
        given = request.headers.get("x-udfs-token") or ""
        auth = request.headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:]
        if not hmac.compare_digest(given.encode(), settings.token.encode()):
            raise HTTPException(401, "a token is required: header 'Authorization: Bearer TOKEN'")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def page() -> str:
        return resources.files("udfs.web").joinpath("static/index.html").read_text(encoding="utf-8")

    @app.get("/static/{name}", include_in_schema=False)
    def static(name: str) -> Response:
        if name not in ("app.js", "chart.js"):
            raise HTTPException(404)
        package = "udfs.analysis" if name == "chart.js" else "udfs.web"
        path = name if name == "chart.js" else f"static/{name}"
        return Response(resources.files(package).joinpath(path).read_text(encoding="utf-8"),
                        media_type="text/javascript")

    @app.get("/api/detectors", dependencies=[Depends(authorised)], summary="Detectors and their options")
    def detectors() -> list[dict[str, Any]]:
        """Every detector UDF with its options as declared (kind, default, help, bounds, choices)."""
        from udfs.analysis.catalogue import detector_catalogue

        return detector_catalogue()

    @app.get("/api/config", dependencies=[Depends(authorised)], summary="Service limits")
    def config() -> dict[str, Any]:
        """Limits, the InfluxDB servers a request may name, and the pool's load."""
        return {"max_upload_bytes": settings.max_upload_bytes, "job_timeout_s": settings.job_timeout,
                "influx_urls": list(settings.influx_urls), "pool": pool().stats()}

    @app.post("/api/analyses", status_code=202, response_model=JobState, dependencies=[Depends(authorised)],
              summary="Start an analysis", responses={400: {"description": "bad form"},
                                                       413: {"description": "upload too large"},
                                                       429: {"description": "too many jobs waiting"}})
    async def submit(
        detectors: Annotated[str, Form(
            description='JSON list of {"name": ..., "options": {...}}',
            examples=['[{"name": "mad", "options": {"window": 50}}, {"name": "sigma"}]'])],
        file: Annotated[UploadFile | None, File(description="CSV (timestamp,value[,...]) or line protocol.")] = None,
        format: Annotated[str, Form(description="auto (by file name), csv or lp")] = "auto",
        consensus: Annotated[str, Form(description="K, all, any, majority, or groups a+b|c")] = "majority",
        field: Annotated[str, Form(description="Field to analyse (default: value, or the only field).")] = "",
        group_by: Annotated[str, Form(
            description="Comma-separated tags; each combination is its own series.")] = "",
        span: Annotated[str, Form(description="Last DURATION of the series, or all.")] = "7d",
        title: Annotated[str, Form()] = "",
        influx_url: Annotated[str, Form(description="One of /api/config's influx_urls, instead of a file.")] = "",
        database: Annotated[str, Form()] = "telegraf",
        measurement: Annotated[str, Form()] = "",
        query: Annotated[str, Form(
            description="A full InfluxQL SELECT (instead of measurement/field/where).")] = "",
        where: Annotated[str, Form()] = "",
        start: Annotated[str, Form()] = "",
        stop: Annotated[str, Form()] = "",
    ) -> JobState:
        """Queue an analysis; poll GET /api/analyses/{id} until its status is done or failed."""
        try:
            chosen = [DetectorChoice.model_validate(d) for d in json.loads(detectors)]
        except (ValueError, TypeError) as exc:
            raise HTTPException(400, f"detectors: expected a JSON list of {{name, options}}: {exc}") from None
        if not chosen:
            raise HTTPException(400, "choose at least one detector")
        job: dict[str, Any] = {
            "detectors": [c.model_dump() for c in chosen], "consensus": consensus, "field": field,
            "group_by": [g.strip() for g in group_by.split(",") if g.strip()], "span": span, "title": title,
            "format": format, "measurement": measurement,
        }
        if influx_url:
            if influx_url not in settings.influx_urls:
                raise HTTPException(400, "influx_url must be one of the servers this service was started with "
                                         f"({', '.join(settings.influx_urls) or 'none: start with --influx URL'})")
            if not query and not measurement:
                raise HTTPException(400, "name the series: query, or measurement (and field)")
            job.update(influx_url=influx_url, database=database, query=query, where=where, start=start, stop=stop)
        elif file is not None:
            data = await file.read(settings.max_upload_bytes + 1)
            if len(data) > settings.max_upload_bytes:
                raise HTTPException(413, f"upload over the limit of {settings.max_upload_bytes} bytes")
            job.update(data=data, filename=file.filename or "data.csv",
                       measurement=measurement or (file.filename or "series").rsplit(".", 1)[0])
        else:
            raise HTTPException(400, "upload a file or name an InfluxDB series")
        try:
            return _state(pool().submit(job))
        except PoolFull as exc:
            raise HTTPException(429, str(exc)) from None

    def find(job_id: str) -> Job:
        job = pool().get(job_id)
        if job is None:
            raise HTTPException(404, f"no job {job_id}")
        return job

    @app.get("/api/analyses/{job_id}", response_model=JobState, dependencies=[Depends(authorised)],
             summary="State and result of an analysis")
    def status(job_id: str) -> JobState:
        return _state(find(job_id))

    def output(job_id: str, key: str) -> Any:
        job = find(job_id)
        if job.status != "done":
            raise HTTPException(409, f"job {job_id} is {job.status}")
        return job.output[key]

    @app.get("/api/analyses/{job_id}/plot.png", dependencies=[Depends(authorised)],
             response_class=Response, responses={200: {"content": {"image/png": {}}}}, summary="The PNG plot")
    def plot_png(job_id: str) -> Response:
        return Response(output(job_id, "png"), media_type="image/png")

    @app.get("/api/analyses/{job_id}/plot.html", dependencies=[Depends(authorised)],
             response_class=HTMLResponse, summary="The interactive HTML plot (self-contained)")
    def plot_html(job_id: str) -> HTMLResponse:
        return HTMLResponse(output(job_id, "html"))

    app.add_middleware(_BodyLimit, limit=settings.max_upload_bytes + 64 * 1024)  # room for the other fields
    return app
