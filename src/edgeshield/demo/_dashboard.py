"""The web dashboard that serves the demo's run directories: runs, steps, plots, ledger events.

A person who ran ``edgeshield demo`` a few times wants to browse the evidence without opening
files one by one. The dashboard only reads ``runs_dir``: every run id is checked against a
strict pattern and every file path is resolved and confined to its run, so a crafted URL
cannot read anything else. Pages are server-rendered with inline CSS and a small inline
script that draws the charts from the run's JSON; nothing is fetched from a CDN. Every page
answers ``HEAD`` as it answers ``GET``, without the body (link checkers and ``curl -I`` use it).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException
from fastapi.responses import FileResponse, HTMLResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from edgeshield.demo._dashboard_html import index_page, run_page
from edgeshield.demo._prices import quality_ladder
from edgeshield.demo._scenario import STEPS
from edgeshield.demo._verdict import dataset_of, tally, verdict

__all__ = ["RUN_ID_PATTERN", "RunSummary", "create_dashboard", "list_runs", "load_run"]

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9_-]{1,64}")
"""What a run id may look like: the UTC id ``20261126T170000Z`` or a plain name."""

_PLOT_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\.png")
_EVIDENCE = {
    "evidence.html": "text/html; charset=utf-8",
    "agreement.png": "image/png",
    "evidence.json": "application/json",
    "evidence.md": "text/markdown; charset=utf-8",
}
"""The files of a run's ``evidence/`` (``write_evidence``'s), and how they are served."""
_UTC_ID = "%Y%m%dT%H%M%SZ"
_CSP = (
    "default-src 'none'; img-src 'self' data:; style-src 'unsafe-inline'; "
    "script-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


@dataclass(frozen=True, kw_only=True)
class RunSummary:
    """One run as the index lists it.

    Keeps the listing cheap: the figures of each step stay in ``result.json``. ``result``
    counts the attacks by what the defences did to them, ``verdict`` is the report's headline;
    both are computed from the steps' figures (:mod:`edgeshield.demo._verdict`).
    """

    run_id: str
    started: str
    steps_passed: int
    steps_total: int
    failed: str | None
    seconds: float | None
    result: str
    verdict: str

    def as_dict(self) -> dict[str, Any]:
        """The summary as JSON-ready values."""
        return {
            "run_id": self.run_id,
            "started": self.started,
            "steps_passed": self.steps_passed,
            "steps_total": self.steps_total,
            "failed": self.failed,
            "seconds": self.seconds,
            "result": self.result,
            "verdict": self.verdict,
        }


def _run_dir(runs_dir: Path, run_id: str) -> Path | None:
    """The run's directory, or ``None`` when the id is malformed or the run is not there."""
    if RUN_ID_PATTERN.fullmatch(run_id) is None:
        return None
    root = runs_dir.resolve()
    path = (root / run_id).resolve()
    if path.parent != root or not (path / "result.json").is_file():
        return None
    return path


def _inside(path: Path, root: Path) -> Path | None:
    """``path`` resolved, if it is a regular file inside ``root`` (links out are refused)."""
    resolved = path.resolve()
    if not resolved.is_relative_to(root.resolve()) or not resolved.is_file():
        return None
    return resolved


def _started(run_id: str, run_dir: Path) -> str:
    """When the run started: from its UTC id, else the time ``result.json`` was written."""
    try:
        when = dt.datetime.strptime(run_id, _UTC_ID).replace(tzinfo=dt.UTC)
    except ValueError:
        when = dt.datetime.fromtimestamp((run_dir / "result.json").stat().st_mtime, dt.UTC)
    return when.strftime("%Y-%m-%d %H:%M:%S UTC")


def _read_result(run_dir: Path) -> dict[str, Any]:
    """``result.json`` with every field of the expected shape; damaged files read as failed."""
    try:
        raw = json.loads((run_dir / "result.json").read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return {"failed": f"result.json is unreadable ({type(exc).__name__})", "seconds": None,
                "steps": [], "chain_events": []}  # fmt: skip
    if not isinstance(raw, dict):
        raw = {"failed": "result.json is not an object"}
    steps = [s for s in raw.get("steps", []) if isinstance(s, dict)]
    events = [e for e in raw.get("chain_events", []) if isinstance(e, dict)]
    seconds = raw.get("seconds")
    failed = raw.get("failed")
    return {
        "failed": None if failed is None else str(failed),
        "seconds": float(seconds) if isinstance(seconds, int | float) else None,
        "steps": steps,
        "chain_events": events,
    }


def _verdict(steps: list[dict[str, Any]]) -> tuple[str, str]:
    """The tally and the headline of a run; a damaged step reads as no verdict, not a 500."""
    by_key = {
        str(s.get("key")): {"figures": s.get("figures") or {}, "seconds": s.get("seconds"),
                            "gas": s.get("gas")}
        for s in steps
    }  # fmt: skip
    try:
        judged = verdict(by_key)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError):
        return "figures unreadable", "The step figures of this run cannot be read."
    return tally(judged.attacks), judged.headline


def _quality(steps: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The price table in F1 (central, federated, DP, released), empty when not measured."""
    fed = next((s.get("figures") for s in steps if s.get("key") == "federated"), None)
    if not isinstance(fed, dict):
        return []
    try:
        return [dataclasses.asdict(r) for r in quality_ladder(fed)]
    except (KeyError, TypeError, ValueError, AttributeError):
        return []


def _dataset(steps: list[dict[str, Any]]) -> dict[str, str] | None:
    """The run's dataset schema if not AI4I 2020's (name, digest, positive class), else None."""
    figures = {str(s.get("key")): s.get("figures") or {} for s in steps}
    found = dataset_of(figures)
    if found is None:
        return None
    return {k: str(found.get(k, "")) for k in ("name", "sha256", "positive")}


def _summary(run_id: str, run_dir: Path, result: dict[str, Any]) -> RunSummary:
    judged, headline = _verdict(result["steps"])
    return RunSummary(
        run_id=run_id,
        started=_started(run_id, run_dir),
        steps_passed=len(result["steps"]),
        steps_total=len(STEPS),
        failed=result["failed"],
        seconds=result["seconds"],
        result=judged,
        verdict=headline,
    )


def list_runs(runs_dir: Path) -> list[RunSummary]:
    """Every run under ``runs_dir`` (a directory with a ``result.json``), newest first.

    A missing ``runs_dir`` lists no runs rather than failing, so the dashboard can start
    before the first demo.
    """
    if not runs_dir.is_dir():
        return []
    runs = []
    for child in runs_dir.iterdir():
        run_dir = _run_dir(runs_dir, child.name)
        if run_dir is not None:
            runs.append(_summary(child.name, run_dir, _read_result(run_dir)))
    return sorted(runs, key=lambda r: (r.started, r.run_id), reverse=True)


def load_run(runs_dir: Path, run_id: str) -> dict[str, Any] | None:
    """One run's summary, steps, ledger events and plot names, or ``None`` if it is not there.

    Parameters
    ----------
    runs_dir
        The directory that ``edgeshield demo`` writes runs into.
    run_id
        The run's directory name; anything outside :data:`RUN_ID_PATTERN` is not a run.
    """
    run_dir = _run_dir(runs_dir, run_id)
    if run_dir is None:
        return None
    result = _read_result(run_dir)
    plots_dir = run_dir / "plots"
    plots = sorted(
        p.name
        for p in (plots_dir.iterdir() if plots_dir.is_dir() else [])
        if _PLOT_NAME.fullmatch(p.name) and _inside(p, plots_dir) is not None
    )
    return {
        **_summary(run_id, run_dir, result).as_dict(),
        "quality": _quality(result["steps"]),
        "dataset": _dataset(result["steps"]),
        "steps": result["steps"],
        "chain_events": result["chain_events"],
        "plots": plots,
        "has_report": _inside(run_dir / "report.html", run_dir) is not None,
        "has_evidence": _inside(run_dir / "evidence" / "evidence.html", run_dir) is not None,
    }


class _HeadAsGet:
    """Answer ``HEAD`` with the ``GET`` route's status and headers and no body (RFC 9110 9.3.2).

    Why: FastAPI routes declared with ``GET`` answer ``HEAD`` with 405; link checkers and
    ``curl -I`` then report a broken dashboard.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        await self.app({**scope, "method": "GET"}, receive, headers_only)


def create_dashboard(runs_dir: Path) -> FastAPI:
    """The dashboard application serving the runs under ``runs_dir`` (read only).

    Routes: ``/`` and ``/runs/{run_id}`` (HTML), ``/runs/{run_id}/plots/{name}`` (a PNG of the
    run's ``plots/``), ``/runs/{run_id}/report`` (the run's ``report.html``),
    ``/runs/{run_id}/evidence/{name}`` (the ownership evidence the report links:
    ``evidence.html``, ``agreement.png``, ``evidence.json``, ``evidence.md``), ``/api/runs`` and
    ``/api/runs/{run_id}`` (JSON). Unknown runs, malformed ids and paths that leave the run
    answer 404. ``HEAD`` is answered on every route as ``GET`` is, without a body.
    """
    app = FastAPI(title="EdgeShield dashboard", docs_url=None, redoc_url=None, openapi_url=None)
    app.add_middleware(_HeadAsGet)

    def _run_or_404(run_id: str) -> dict[str, Any]:
        run = load_run(runs_dir, run_id)
        if run is None:
            raise HTTPException(status_code=404, detail="unknown run")
        return run

    @app.middleware("http")
    async def _headers(request: Any, call_next: Any) -> Response:
        response: Response = await call_next(request)
        response.headers["Content-Security-Policy"] = _CSP
        response.headers["X-Content-Type-Options"] = "nosniff"
        return response

    @app.get("/", response_class=HTMLResponse)
    def index() -> HTMLResponse:
        return HTMLResponse(index_page([r.as_dict() for r in list_runs(runs_dir)]))

    @app.get("/api/runs")
    def api_runs() -> list[dict[str, Any]]:
        return [r.as_dict() for r in list_runs(runs_dir)]

    @app.get("/api/runs/{run_id}")
    def api_run(run_id: str) -> dict[str, Any]:
        return _run_or_404(run_id)

    @app.get("/runs/{run_id}", response_class=HTMLResponse)
    def run_view(run_id: str) -> HTMLResponse:
        return HTMLResponse(run_page(_run_or_404(run_id)))

    @app.get("/runs/{run_id}/report", response_class=HTMLResponse)
    def report(run_id: str) -> HTMLResponse:
        _run_or_404(run_id)
        run_dir = runs_dir.resolve() / run_id
        path = _inside(run_dir / "report.html", run_dir)
        if path is None:
            raise HTTPException(status_code=404, detail="this run has no report")
        return HTMLResponse(path.read_text(encoding="utf-8"))

    @app.get("/runs/{run_id}/evidence/{name}")
    def evidence(run_id: str, name: str) -> Response:
        _run_or_404(run_id)
        directory = runs_dir.resolve() / run_id / "evidence"
        path = _inside(directory / name, directory) if name in _EVIDENCE else None
        if path is None:
            raise HTTPException(status_code=404, detail="no such evidence file")
        return FileResponse(path, media_type=_EVIDENCE[name])

    @app.get("/runs/{run_id}/plots/{name}")
    def plot(run_id: str, name: str) -> FileResponse:
        _run_or_404(run_id)
        plots_dir = runs_dir.resolve() / run_id / "plots"
        path = _inside(plots_dir / name, plots_dir) if _PLOT_NAME.fullmatch(name) else None
        if path is None:
            raise HTTPException(status_code=404, detail="unknown plot")
        return FileResponse(path, media_type="image/png")

    return app
