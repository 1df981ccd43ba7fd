"""The web dashboard: one self-contained page served by the engine at ``/``.

It reads the same JSON API as everyone else (``/v1/report``), so it needs no state of
its own, and it loads nothing from the internet (no CDN): charts are drawn as SVG.
"""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)

PAGE = files(__package__).joinpath("index.html")


@router.get("/", response_class=HTMLResponse)
def dashboard() -> HTMLResponse:
    return HTMLResponse(PAGE.read_text(encoding="utf-8"))
