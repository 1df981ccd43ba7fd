"""Credentials kept in the database: enrollment codes, devices and API tokens.

Only SHA-256 digests of secrets are stored. Tokens carry the id of their row so a
lookup is one primary-key read:

    device token   std1.<device_id>.<secret>     may only ingest
    API token      sta1.<token_id>.<secret>      viewer or admin role

An enrollment code (``ABCD-EFGH-JKMN-PQRS``) is good for one device, until it
expires. Using it is one conditional UPDATE, so two replicas cannot both accept it.
"""

from __future__ import annotations

import enum
import hashlib
import logging
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, RowMapping, insert, select, update

from spendtap.engine.database import write_transaction
from spendtap.engine.tables import api_tokens, devices, enrollment_codes
from spendtap.engine.timestamps import epoch_ms, format_rfc3339

log = logging.getLogger(__name__)

DEVICE_PREFIX = "std1"
API_PREFIX = "sta1"
DEFAULT_CODE_TTL = timedelta(hours=24)
MAX_CODE_TTL = timedelta(days=30)
_CODE_ALPHABET = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"
_CODE_GROUPS = 4


class Role(enum.StrEnum):
    VIEWER = "viewer"
    ADMIN = "admin"


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str
    expires_at: str


@dataclass(frozen=True, slots=True)
class Enrollment:
    device_id: str
    token: str


@dataclass(frozen=True, slots=True)
class Device:
    device_id: str
    hostname: str
    os_user: str
    note: str | None
    enrolled_at: str
    revoked_at: str | None


@dataclass(frozen=True, slots=True)
class StoredToken:
    """A device or API token's row, as the access check needs it."""

    name: str
    token_hash: str
    revoked: bool
    role: Role | None = None


class EnrollmentError(Exception):
    """The code is unknown, already used or expired (the caller says which not)."""


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def normalize_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


def split_token(token: str) -> tuple[str, str] | None:
    """(prefix, row id) of a token in our format, else None."""
    parts = token.split(".")
    if len(parts) != 3 or parts[0] not in (DEVICE_PREFIX, API_PREFIX):
        return None
    return parts[0], parts[1]


def issue_code(
    engine: Engine, now: datetime, ttl: timedelta | None, note: str | None
) -> IssuedCode:
    """A new one-time enrollment code, valid for ``ttl`` (default 24 h)."""
    raw = "".join(secrets.choice(_CODE_ALPHABET) for _ in range(4 * _CODE_GROUPS))
    code = "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))
    expires = now + (ttl or DEFAULT_CODE_TTL)
    with write_transaction(engine) as conn:
        conn.execute(
            insert(enrollment_codes).values(
                code_hash=digest(raw),
                note=note,
                created_at=format_rfc3339(now),
                expires_ms=epoch_ms(expires),
                expires_at=format_rfc3339(expires),
            )
        )
    log.info("engine.enrollment.code_issued expires_at=%s", format_rfc3339(expires))
    return IssuedCode(code=code, expires_at=format_rfc3339(expires))


def enroll(
    engine: Engine, code: str, hostname: str, os_user: str, now: datetime
) -> Enrollment:
    """Trade a valid code for a new device and its token; EnrollmentError if not."""
    device_id = "dev_" + secrets.token_hex(8)
    token = f"{DEVICE_PREFIX}.{device_id}.{secrets.token_urlsafe(32)}"
    when = format_rfc3339(now)
    with write_transaction(engine) as conn:
        used = conn.execute(
            update(enrollment_codes)
            .where(
                enrollment_codes.c.code_hash == digest(normalize_code(code)),
                enrollment_codes.c.used_at.is_(None),
                enrollment_codes.c.expires_ms > epoch_ms(now),
            )
            .values(used_at=when, device_id=device_id)
            .returning(enrollment_codes.c.note)
        ).all()
        if not used:
            raise EnrollmentError(code)
        conn.execute(
            insert(devices).values(
                device_id=device_id,
                token_hash=digest(token),
                hostname=hostname,
                os_user=os_user,
                note=used[0].note,
                enrolled_at=when,
            )
        )
    log.info("engine.device.enrolled device_id=%s", device_id)
    return Enrollment(device_id=device_id, token=token)


def revoke_device(engine: Engine, device_id: str, now: datetime) -> Device | None:
    """Revoke ``device_id`` (again is a no-op); None if there is no such device."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(devices)
            .where(devices.c.device_id == device_id, devices.c.revoked_at.is_(None))
            .values(revoked_at=format_rfc3339(now))
        )
        row = conn.execute(
            select(devices).where(devices.c.device_id == device_id)
        ).first()
    if row is None:
        return None
    log.info("engine.device.revoked device_id=%s", device_id)
    return _device(row._mapping)


def list_devices(engine: Engine) -> list[Device]:
    with engine.connect() as conn:
        rows = conn.execute(select(devices).order_by(devices.c.enrolled_at)).mappings()
        return [_device(row) for row in rows]


def create_api_token(engine: Engine, name: str, role: Role, now: datetime) -> str:
    """A new API token stored in the database; the token is shown only here."""
    token_id = "tok_" + secrets.token_hex(8)
    token = f"{API_PREFIX}.{token_id}.{secrets.token_urlsafe(32)}"
    with write_transaction(engine) as conn:
        conn.execute(
            insert(api_tokens).values(
                token_id=token_id,
                name=name,
                role=role.value,
                token_hash=digest(token),
                created_at=format_rfc3339(now),
            )
        )
    log.info("engine.api_token.created name=%s role=%s", name, role.value)
    return token


def find_device(engine: Engine, device_id: str) -> StoredToken | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(devices.c.token_hash, devices.c.revoked_at).where(
                devices.c.device_id == device_id
            )
        ).first()
    if row is None:
        return None
    return StoredToken(device_id, row.token_hash, row.revoked_at is not None)


def find_api_token(engine: Engine, token_id: str) -> StoredToken | None:
    with engine.connect() as conn:
        row = conn.execute(
            select(api_tokens).where(api_tokens.c.token_id == token_id)
        ).first()
    if row is None:
        return None
    return StoredToken(
        row.name, row.token_hash, row.revoked_at is not None, Role(row.role)
    )


def has_credentials(engine: Engine) -> bool:
    """Whether any device was ever enrolled or any API token was ever stored."""
    with engine.connect() as conn:
        device = conn.execute(select(devices.c.device_id).limit(1)).first()
        token = conn.execute(select(api_tokens.c.token_id).limit(1)).first()
    return device is not None or token is not None


def _device(row: RowMapping) -> Device:
    return Device(
        device_id=row["device_id"],
        hostname=row["hostname"],
        os_user=row["os_user"],
        note=row["note"],
        enrolled_at=row["enrolled_at"],
        revoked_at=row["revoked_at"],
    )
