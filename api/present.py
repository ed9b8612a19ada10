"""How records and events look over HTTP: public fields, redactions applied."""

from __future__ import annotations

from typing import Any

from ledger.domain import Record

REDACTED = "[redacted]"
_PRIVATE = ("_id", "_version", "_created_on", "_modified_on", "_pending_events")


def record_json(record: Record) -> dict[str, Any]:
    """A record's current state as the public may see it."""
    fields = {k: v for k, v in vars(record).items() if k not in _PRIVATE}
    redactions: dict[str, str] = fields.pop("redactions", {})
    for name in redactions:
        if name in fields:
            fields[name] = REDACTED
    corrections = [
        {**c, "old": REDACTED, "new": REDACTED} if c["field"] in redactions else c
        for c in fields.pop("corrections", [])
    ]
    titles = fields.pop("titles", None)
    out: dict[str, Any] = {
        "id": str(record.id),
        "kind": record.KIND,
        "version": record.version,
        "recorded_at": record.created_on.isoformat(),
        "updated_at": record.modified_on.isoformat(),
        **fields,
        "retracted": fields.get("retracted", False),
        "redactions": [{"field": k, "reason": v} for k, v in redactions.items()],
        "corrections": corrections,
    }
    if titles is not None:
        out["titles"] = [{**t, "title": REDACTED} if "title" in redactions else t for t in titles]
    return out


def etag(version: int) -> str:
    return f'"{version}"'


def parse_if_match(value: str | None) -> int | None:
    """`If-Match: "3"` or `3` -> 3; `*` or absent -> None."""
    if value is None or value.strip() in ("", "*"):
        return None
    text = value.strip()
    if text.startswith("W/"):
        text = text[2:]
    text = text.strip('"')
    if not text.isdigit():
        raise ValueError('If-Match takes the record\'s ETag, such as "3"')
    return int(text)
