"""The FastAPI application: `create_app(services)`; `ledger serve` builds the services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.staticfiles import StaticFiles

from api import errors, observability
from api.deps import RateLimiter
from api.routes import events, feeds, health, integrity, keys, records, views, webhooks
from api.services import Services
from api.web import editor, pages

STATIC = Path(__file__).resolve().parent / "static"

DESCRIPTION = """
An append-only, sourced history of what officials and institutions promise, claim and do.

Reads are public. Writes need `Authorization: Bearer KEY` with an **editor** key (keys and
their audit need **admin**); create one with `ledger keys create --name NAME --scope editor`.
Every write answers with `X-Ledger-Position`; pass it back as `?min_position=` to read your
own write. Time-dependent reads take `at` (the world as of a date) and `known_at` (what the
ledger knew at a time). Errors are RFC 9457 problem details.
"""


def create_app(services: Services | None = None, *, own_services: bool = False) -> FastAPI:
    """The app over `services`; with none given, it opens the store from the environment at
    start-up, runs the followers in-process, and closes everything at shutdown."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        opened = services is None or own_services
        if services is None:
            app.state.services = Services.open()
        if opened and app.state.services.api.run_followers:
            app.state.services.start_followers()
        try:
            yield
        finally:
            if opened:
                app.state.services.close()

    app = FastAPI(
        title="Accountability ledger",
        version="1",
        description=DESCRIPTION,
        lifespan=lifespan,
    )
    app.state.rate_limiter = RateLimiter()
    if services is not None:
        app.state.services = services
    errors.install(app)
    observability.install(app)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET"],
        allow_headers=["*"],
        expose_headers=["ETag", "X-Ledger-Position", "Location"],
    )

    @app.middleware("http")
    async def limit_body(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        limit = app.state.services.api.max_body_bytes if hasattr(app.state, "services") else 0
        length = request.headers.get("content-length")
        if limit and length and length.isdigit() and int(length) > limit:
            return errors.problem(
                413,
                "body-too-large",
                "Request body too large",
                f"bodies are limited to {limit} bytes",
                instance=request.url.path,
            )
        return await call_next(request)

    for module in (health, events, views, records, keys, feeds, integrity, webhooks):
        app.include_router(module.router)
    app.include_router(pages.router)
    app.include_router(editor.router)
    app.mount("/static", StaticFiles(directory=str(STATIC)), name="static")
    return app


def app_from_environment() -> Any:
    """For `uvicorn --factory`: each worker process opens its own services."""
    observability.configure_logging()
    return create_app()
