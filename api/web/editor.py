"""Editors' pages: sign in with an editor key (kept in an HTTP-only session cookie), and
record follow-ups through forms protected against cross-site requests. A form is one command:
it is applied whole or refused whole, with each problem shown beside its field."""

import hashlib
import hmac
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool

from api.deps import ServicesDep, record_id
from api.services import Services
from api.web.render import page
from ledger.admin import ApiKey
from ledger.commands import CommandError, parse_command
from ledger.domain import PLURALS
from ledger.errors import DomainError

router = APIRouter(prefix="/editor", include_in_schema=False)
COOKIE = "ledger_session"


def _secret(services: Services) -> bytes:
    """Session and form tokens are keyed by the log's private signing key."""
    from cryptography.hazmat.primitives import serialization

    raw = services.followers.signer.private_key.private_bytes(
        serialization.Encoding.Raw,
        serialization.PrivateFormat.Raw,
        serialization.NoEncryption(),
    )
    return hashlib.sha256(b"ledger-session\n" + raw).digest()


def _sign(services: Services, value: str) -> str:
    return hmac.new(_secret(services), value.encode(), hashlib.sha256).hexdigest()


def _session(services: Services, request: Request) -> ApiKey | None:
    token = request.cookies.get(COOKIE, "")
    key_id, _, mac = token.partition(".")
    if not key_id or not hmac.compare_digest(mac, _sign(services, key_id)):
        return None
    try:
        record: Any = services.admin.repository.get(UUID(key_id))
    except Exception:
        return None
    return record if isinstance(record, ApiKey) and record.allows("editor") else None


def _csrf(services: Services, request: Request) -> str:
    return _sign(services, "csrf:" + request.cookies.get(COOKIE, ""))


@dataclass
class Field:
    name: str
    label: str
    kind: str = "text"  # text, textarea, date, select, list, number
    required: bool = True
    choices: tuple[str, ...] = ()
    help: str = ""


@dataclass
class Form:
    op: str
    title: str
    fields: list[Field]
    needs_id: bool = False
    defaults: dict[str, Any] = field(default_factory=dict)


SOURCES = Field("sources", "Source ids or slugs (one a line)", "list")
FORMS: dict[str, Form] = {
    "source": Form(
        "source.create",
        "Record a source",
        [
            Field("url", "URL"),
            Field("title", "Title"),
            Field("publisher", "Publisher", required=False),
            Field("published_at", "Published on", "date", required=False),
        ],
    ),
    "commitment": Form(
        "commitment.create",
        "Record a commitment",
        [
            Field("kind", "Kind", "select", choices=("promise", "directive", "pledge")),
            Field("made_by", "Made by (actor id or slug)"),
            Field("assignee", "Assignee (for a directive)", required=False),
            Field("text", "What was said (verbatim)", "textarea"),
            Field("summary", "Summary", "textarea", required=False),
            Field("made_at", "Said on", "date"),
            Field("due.on", "Due on", "date", required=False),
            Field("due.text", "Deadline in their words", required=False),
            Field(
                "due.precision",
                "Deadline precision",
                "select",
                required=False,
                choices=("day", "week", "month", "year"),
            ),
            Field("due.basis", "How the date was derived", required=False),
            Field("topics", "Topics (one a line)", "list", required=False),
            SOURCES,
        ],
    ),
    "status": Form(
        "commitment.status",
        "Record a status change",
        [
            Field(
                "status",
                "New status",
                "select",
                choices=(
                    "in_progress",
                    "stalled",
                    "fulfilled",
                    "partially_fulfilled",
                    "broken",
                    "withdrawn",
                    "reversed",
                ),
            ),
            Field("occurred_at", "When it happened", "date"),
            Field("reason", "What happened", "textarea"),
            SOURCES,
        ],
        needs_id=True,
    ),
    "assessment": Form(
        "claim.assessment",
        "Assess a claim",
        [
            Field(
                "verdict",
                "Verdict",
                "select",
                choices=(
                    "accurate",
                    "mostly_accurate",
                    "misleading",
                    "inaccurate",
                    "unsupported",
                    "disputed",
                ),
            ),
            Field("rationale", "Rationale", "textarea"),
            SOURCES,
        ],
        needs_id=True,
    ),
    "inquiry": Form(
        "inquiry.create",
        "Record an inquiry",
        [
            Field("asked_by", "Asked by (actor)"),
            Field("asked_to", "Asked to (actor)"),
            Field("question", "Question", "textarea"),
            Field("asked_at", "Asked on", "date"),
            Field("follow_up_after", "Follow up after (days)", "number"),
            SOURCES,
        ],
        defaults={"follow_up_after": "7"},
    ),
    "response": Form(
        "inquiry.response",
        "Record a response to an inquiry",
        [
            Field(
                "status",
                "Response",
                "select",
                choices=("answered", "partially_answered", "declined"),
            ),
            Field("occurred_at", "When", "date"),
            Field("text", "What they said", "textarea", required=False),
            SOURCES,
        ],
        needs_id=True,
    ),
    "correction": Form(
        "correction",
        "Correct a record",
        [
            Field("field", "Field"),
            Field("value", "Correct value", "textarea"),
            Field("reason", "Why", "textarea"),
        ],
        needs_id=True,
    ),
}
#: The record kind a form's id names (corrections say it in the URL).
_TARGET = {"status": "commitment", "assessment": "claim", "response": "inquiry"}


def _data(form: Form, values: dict[str, str]) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for f in form.fields:
        raw = values.get(f.name, "").strip()
        if not raw:
            continue
        value: Any = raw
        if f.kind == "list":
            value = [line.strip() for line in raw.splitlines() if line.strip()]
        elif f.kind == "number":
            value = int(raw) if raw.isdigit() else raw
        if "." in f.name:
            outer, inner = f.name.split(".", 1)
            data.setdefault(outer, {})[inner] = value
        else:
            data[f.name] = value
    return data


def _render(
    request: Request,
    services: Services,
    form: Form,
    action: str,
    values: dict[str, str],
    errors: dict[str, str],
    problem: str | None,
    status: int = 200,
) -> HTMLResponse:
    return page(
        request,
        "editor_form.html",
        status=status,
        form=form,
        action=action,
        values=values,
        errors=errors,
        problem=problem,
        csrf=_csrf(services, request),
        editor=True,
        when=services.views.when(),
        keep="",
        travel=False,
        path=request.url.path,
        names={},
    )


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, services: ServicesDep) -> HTMLResponse:
    return page(
        request,
        "editor_sign_in.html",
        error=None,
        when=services.views.when(),
        keep="",
        travel=False,
        path=request.url.path,
        names={},
        editor=False,
    )


@router.post("/sign-in", response_model=None)
async def sign_in(request: Request, services: ServicesDep) -> Response:
    form = await request.form()
    key = str(form.get("key", "")).strip()
    record = await run_in_threadpool(services.admin.authenticate, key) if key else None
    if record is None or not record.allows("editor"):
        return page(
            request,
            "editor_sign_in.html",
            status=401,
            error="That is not an active editor key.",
            when=services.views.when(),
            keep="",
            travel=False,
            path=request.url.path,
            names={},
            editor=False,
        )
    response = RedirectResponse("/editor", status_code=303)
    response.set_cookie(
        COOKIE,
        f"{record.id}.{_sign(services, str(record.id))}",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        max_age=8 * 3600,
    )
    return response


@router.post("/sign-out", response_model=None)
async def sign_out(request: Request, services: ServicesDep) -> Response:
    response = RedirectResponse("/", status_code=303)
    response.delete_cookie(COOKIE)
    return response


@router.get("", response_class=HTMLResponse, response_model=None)
async def dashboard(request: Request, services: ServicesDep) -> Response:
    who = await run_in_threadpool(_session, services, request)
    if who is None:
        return RedirectResponse("/editor/sign-in", status_code=303)
    return page(
        request,
        "editor.html",
        who=who,
        forms=FORMS,
        csrf=_csrf(services, request),
        editor=True,
        when=services.views.when(),
        keep="",
        travel=False,
        path=request.url.path,
        names={},
    )


def _form_and_action(name: str, kind: str | None, id: str | None) -> tuple[Form, str]:
    form = FORMS[name]
    if name == "correction":
        return form, f"/editor/{kind}/{id}/correction"
    if form.needs_id:
        return form, f"/editor/{PLURALS[_TARGET[name]]}/{id}/{name}"
    return form, f"/editor/{name}s/new" if name != "inquiry" else "/editor/inquiries/new"


async def _show(
    request: Request, services: Services, name: str, kind: str | None = None, id: str | None = None
) -> Response:
    if await run_in_threadpool(_session, services, request) is None:
        return RedirectResponse("/editor/sign-in", status_code=303)
    form, action = _form_and_action(name, kind, id)
    return _render(request, services, form, action, dict(form.defaults), {}, None)


async def _submit(
    request: Request, services: Services, name: str, kind: str | None = None, id: str | None = None
) -> Response:
    who = await run_in_threadpool(_session, services, request)
    if who is None:
        return RedirectResponse("/editor/sign-in", status_code=303)
    form, action = _form_and_action(name, kind, id)
    posted = await request.form()
    values = {k: str(v) for k, v in posted.items()}
    if not hmac.compare_digest(values.get("csrf", ""), _csrf(services, request)):
        return _render(
            request,
            services,
            form,
            action,
            values,
            {},
            "This form has expired; reload the page and send it again.",
            403,
        )
    op = f"{kind}.correction" if name == "correction" else form.op
    command: dict[str, Any] = {"op": op, "data": _data(form, values)}
    target_kind = kind or _TARGET.get(name) or op.split(".")[0]
    if id is not None:
        command["id"] = str(record_id(target_kind, id))
    try:
        parsed = parse_command(command)
        written = await run_in_threadpool(services.ledger.execute, parsed, principal=who.principal)
    except CommandError as e:
        errors = {f.removeprefix("data."): r for f, r in e.errors}
        return _render(
            request,
            services,
            form,
            action,
            values,
            errors,
            "Nothing was recorded: please correct the fields marked below.",
            422,
        )
    except DomainError as e:
        errors = {e.field: e.message} if e.field else {}
        return _render(
            request,
            services,
            form,
            action,
            values,
            errors,
            f"Nothing was recorded: {e.message}",
            409 if not e.field else 422,
        )
    where = {"commitment": "commitments", "claim": "claims"}.get(written.kind)
    target = f"/{where}/{written.id}" if where else "/editor"
    return RedirectResponse(f"{target}?min_position={written.position}", status_code=303)


def _routes() -> None:
    for name in ("source", "commitment", "inquiry"):
        path = "/inquiries/new" if name == "inquiry" else f"/{name}s/new"

        async def show(request: Request, services: ServicesDep, _n: str = name) -> Response:
            return await _show(request, services, _n)

        async def submit(request: Request, services: ServicesDep, _n: str = name) -> Response:
            return await _submit(request, services, _n)

        router.add_api_route(path, show, methods=["GET"], response_model=None)
        router.add_api_route(path, submit, methods=["POST"], response_model=None)
    for name, kind in _TARGET.items():
        path = f"/{PLURALS[kind]}/{{id}}/{name}"

        async def show_one(
            request: Request, services: ServicesDep, id: str, _n: str = name
        ) -> Response:
            return await _show(request, services, _n, id=id)

        async def submit_one(
            request: Request, services: ServicesDep, id: str, _n: str = name
        ) -> Response:
            return await _submit(request, services, _n, id=id)

        router.add_api_route(path, show_one, methods=["GET"], response_model=None)
        router.add_api_route(path, submit_one, methods=["POST"], response_model=None)

    async def show_correction(
        request: Request, services: ServicesDep, kind: str, id: str
    ) -> Response:
        return await _show(request, services, "correction", kind=_singular(kind), id=id)

    async def submit_correction(
        request: Request, services: ServicesDep, kind: str, id: str
    ) -> Response:
        return await _submit(request, services, "correction", kind=_singular(kind), id=id)

    router.add_api_route(
        "/{kind}/{id}/correction", show_correction, methods=["GET"], response_model=None
    )
    router.add_api_route(
        "/{kind}/{id}/correction", submit_correction, methods=["POST"], response_model=None
    )


def _singular(kind: str) -> str:
    singular = {v: k for k, v in PLURALS.items()}.get(kind, kind)
    if singular not in PLURALS:
        from api.errors import ApiProblem

        raise ApiProblem(404, "not-found", "Not found", f"no kind {kind}")
    return singular


_routes()
