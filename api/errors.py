"""The one place errors become RFC 9457 problem details (`application/problem+json`)."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from ledger.errors import (
    Conflict,
    DomainError,
    IdempotencyMismatch,
    InvalidInput,
    NotFound,
    RuleViolation,
    StaleVersion,
)

PROBLEM = "application/problem+json"
TYPE_BASE = "https://ledger.invalid/problems/"

#: domain error class -> (status, stable type slug, title)
_DOMAIN: list[tuple[type[DomainError], int, str, str]] = [
    (StaleVersion, 412, "stale-version", "The record changed since you read it"),
    (IdempotencyMismatch, 422, "idempotency-key-reused", "Idempotency key already used"),
    (InvalidInput, 422, "invalid-input", "Invalid input"),
    (NotFound, 404, "not-found", "Not found"),
    (Conflict, 409, "conflict", "Conflict"),
    (RuleViolation, 409, "rule-violation", "Not allowed by the ledger's rules"),
]


class ApiProblem(Exception):
    """An error raised by the HTTP layer itself (auth, limits, waiting)."""

    def __init__(
        self,
        status: int,
        slug: str,
        title: str,
        detail: str,
        *,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status, self.slug, self.title, self.detail = status, slug, title, detail
        self.headers = headers or {}
        self.extra = extra


def problem(
    status: int,
    slug: str,
    title: str,
    detail: str,
    *,
    instance: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": TYPE_BASE + slug,
        "title": title,
        "status": status,
        "detail": detail,
        **({"instance": instance} if instance else {}),
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def _location(loc: tuple[Any, ...] | list[Any]) -> str:
    parts = [str(p) for p in loc]
    if parts and parts[0] in ("body", "query", "path", "header"):
        parts = parts[1:]
    return ".".join(parts)


#: The OpenAPI schema of every error body.
PROBLEM_SCHEMA: dict[str, Any] = {
    "title": "Problem",
    "description": "RFC 9457 problem details; `errors` names each bad field and why",
    "type": "object",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["field", "reason"],
                "properties": {"field": {"type": "string"}, "reason": {"type": "string"}},
            },
        },
    },
}


def _document(app: FastAPI) -> None:
    """Describe errors in the OpenAPI as they are sent: every error response of every
    operation is `application/problem+json` (FastAPI would otherwise document its own 422
    body, which this API never sends)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        schemas["Problem"] = PROBLEM_SCHEMA
        content = {PROBLEM: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for operations in spec.get("paths", {}).values():
            for operation in operations.values():
                responses = operation.setdefault("responses", {})
                for status, response in responses.items():
                    if status[0] in "45":
                        response["content"] = content
                responses.setdefault(
                    "default", {"description": "an error, as problem details", "content": content}
                )
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]


def install(app: FastAPI) -> None:
    _document(app)

    @app.exception_handler(DomainError)
    async def domain_error(request: Request, exc: DomainError) -> JSONResponse:
        for cls, status, slug, title in _DOMAIN:
            if isinstance(exc, cls):
                extra: dict[str, Any] = {}
                if exc.field:
                    extra["errors"] = [{"field": exc.field, "reason": exc.message}]
                if isinstance(exc, StaleVersion):
                    extra["current_version"] = exc.current
                return problem(status, slug, title, exc.message, instance=request.url.path, **extra)
        return problem(400, "bad-request", "Bad request", exc.message)

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = [
            {"field": _location(e.get("loc", ())), "reason": str(e.get("msg", "invalid"))}
            for e in exc.errors()
        ]
        detail = "; ".join(f"{e['field'] or 'body'}: {e['reason']}" for e in errors)
        return problem(
            422, "invalid-input", "Invalid input", detail, instance=request.url.path, errors=errors
        )

    @app.exception_handler(ApiProblem)
    async def api_problem(request: Request, exc: ApiProblem) -> JSONResponse:
        return problem(
            exc.status,
            exc.slug,
            exc.title,
            exc.detail,
            instance=request.url.path,
            headers=exc.headers,
            **exc.extra,
        )

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 400:
            # FastAPI's answer to a body it cannot decode (not UTF-8): bad input, like any.
            return problem(
                422,
                "invalid-input",
                "Invalid input",
                f"body: {exc.detail}; send UTF-8 JSON",
                instance=request.url.path,
                errors=[{"field": "body", "reason": str(exc.detail)}],
            )
        slug = {404: "not-found", 405: "method-not-allowed"}.get(exc.status_code, "http-error")
        return problem(
            exc.status_code,
            slug,
            str(exc.detail) if exc.status_code != 404 else "Not found",
            str(exc.detail),
            instance=request.url.path,
            headers=getattr(exc, "headers", None),
        )
