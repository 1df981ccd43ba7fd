"""Enrollment: admins issue one-time codes, devices trade a code for a token.

    POST /v1/devices/codes            admin   {"note", "ttl_seconds"} -> 201 {"code", "expires_at"}
    POST /v1/devices/enroll           none    {"code", "hostname", "os_user"} -> {"device_id", "token"}
    POST /v1/devices/{id}/revoke      admin   -> the device, revoked
    GET  /v1/devices                  admin   -> {"devices": [...]}

An unknown, used or expired code gets 401 ``enrollment_code_invalid`` (the answer
does not say which, so codes cannot be probed).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from spendtap.engine import credentials
from spendtap.engine.access import needs_admin
from spendtap.engine.credentials import MAX_CODE_TTL, Device, EnrollmentError
from spendtap.engine.http_errors import ApiError, ErrorCode, ErrorOut, Problem
from spendtap.engine.schema import NO_NUL
from spendtap.engine.state import EngineState, engine_state

router = APIRouter(tags=["devices"])
_TEXT = 2048
_ERROR = {"model": ErrorOut, "description": "the error shape"}
_ADMIN_ERRORS: dict[int | str, dict[str, Any]] = {
    400: _ERROR,
    401: _ERROR,
    403: _ERROR,
    422: _ERROR,
}


class CodeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    note: Annotated[str, Field(max_length=_TEXT, pattern=NO_NUL)] | None = None
    ttl_seconds: (
        Annotated[int, Field(ge=60, le=int(MAX_CODE_TTL.total_seconds()))] | None
    ) = None


class CodeOut(BaseModel):
    code: str
    expires_at: str


class EnrollIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    code: Annotated[str, Field(min_length=1, max_length=64)]
    hostname: Annotated[str, Field(min_length=1, max_length=_TEXT, pattern=NO_NUL)]
    os_user: Annotated[str, Field(min_length=1, max_length=_TEXT, pattern=NO_NUL)]


class EnrollOut(BaseModel):
    device_id: str
    token: str


class DeviceOut(BaseModel):
    device_id: str
    hostname: str
    os_user: str
    note: str | None
    enrolled_at: str
    revoked_at: str | None


class DevicesOut(BaseModel):
    devices: list[DeviceOut]


State = Annotated[EngineState, Depends(engine_state)]


@router.post(
    "/v1/devices/codes",
    status_code=201,
    dependencies=[Depends(needs_admin)],
    responses=_ADMIN_ERRORS,
    summary="Issue a one-time enrollment code",
)
async def issue_code(state: State, body: CodeIn) -> CodeOut:
    """A code for ``spendtap enroll``, valid once, for ``ttl_seconds`` (24 h)."""
    ttl = None if body.ttl_seconds is None else timedelta(seconds=body.ttl_seconds)
    issued = await run_in_threadpool(
        credentials.issue_code, state.db, datetime.now(UTC), ttl, body.note
    )
    return CodeOut(code=issued.code, expires_at=issued.expires_at)


@router.post(
    "/v1/devices/enroll",
    responses={400: _ERROR, 401: _ERROR, 422: _ERROR},
    summary="Trade an enrollment code for a device token (no other credential)",
)
async def enroll(state: State, body: EnrollIn) -> EnrollOut:
    """The token authorises this device to ingest; keep it private to the user."""
    try:
        done = await run_in_threadpool(
            credentials.enroll,
            state.db,
            body.code,
            body.hostname,
            body.os_user,
            datetime.now(UTC),
        )
    except EnrollmentError as exc:
        message = "the enrollment code is unknown, already used or expired"
        fix = "ask an admin for a new code (spendtap devices issue-code)"
        raise ApiError(
            401,
            ErrorCode.ENROLLMENT_CODE_INVALID,
            f"{message}; {fix}",
            (Problem(message, fix, field="code"),),
        ) from exc
    return EnrollOut(device_id=done.device_id, token=done.token)


@router.post(
    "/v1/devices/{device_id}/revoke",
    dependencies=[Depends(needs_admin)],
    responses={404: _ERROR, **_ADMIN_ERRORS},
    summary="Revoke a device: its token stops working at once, on every replica",
)
async def revoke(
    state: State, device_id: Annotated[str, Path(min_length=1, max_length=64)]
) -> DeviceOut:
    device = (
        None  # enrolment refuses NUL (PostgreSQL cannot even compare with it)
        if "\x00" in device_id
        else await run_in_threadpool(
            credentials.revoke_device, state.db, device_id, datetime.now(UTC)
        )
    )
    if device is None:
        message = f"no device {device_id!r} is enrolled"
        fix = "list the devices with GET /v1/devices (spendtap devices list)"
        raise ApiError(
            404, ErrorCode.NOT_FOUND, f"{message}; {fix}", (Problem(message, fix),)
        )
    return _device_out(device)


@router.get(
    "/v1/devices",
    dependencies=[Depends(needs_admin)],
    responses=_ADMIN_ERRORS,
    summary="Enrolled devices, oldest first",
)
async def list_devices(state: State) -> DevicesOut:
    devices = await run_in_threadpool(credentials.list_devices, state.db)
    return DevicesOut(devices=[_device_out(d) for d in devices])


def _device_out(device: Device) -> DeviceOut:
    return DeviceOut(
        device_id=device.device_id,
        hostname=device.hostname,
        os_user=device.os_user,
        note=device.note,
        enrolled_at=device.enrolled_at,
        revoked_at=device.revoked_at,
    )
