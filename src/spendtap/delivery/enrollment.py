"""Enrollment and device administration, as a client of the engine's API.

    POST /v1/devices/codes              (admin token)  -> 201 {"code", "expires_at"}
    POST /v1/devices/enroll             (no token)     -> 200 {"device_id", "token"}
    POST /v1/devices/{device_id}/revoke (admin token)  -> 200
    GET  /v1/devices                    (admin token)  -> 200 the devices

An admin issues a one-time code; the laptop trades it for its own device token
(:func:`enroll`), which :mod:`spendtap.delivery.credentials` keeps with user-only
permissions. Every failure is an EngineError that names what went wrong and what to
do; no token or code appears in a message or a log line.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx

from spendtap.collector.timefmt import rfc3339
from spendtap.delivery.answers import error_message
from spendtap.delivery.credentials import DeviceCredentials
from spendtap.delivery.endpoint import EngineEndpoint
from spendtap.errors import EngineError

log = logging.getLogger(__name__)

CODES_PATH = "/v1/devices/codes"
ENROLL_PATH = "/v1/devices/enroll"
DEVICES_PATH = "/v1/devices"
TIMEOUT_S = 15.0


@dataclass(frozen=True, slots=True)
class IssuedCode:
    code: str = field(repr=False)
    expires_at: str


def enroll(
    endpoint: EngineEndpoint, code: str, *, hostname: str, os_user: str
) -> DeviceCredentials:
    """Trade a one-time enrollment code for this device's token."""
    body = {"code": code.strip(), "hostname": hostname, "os_user": os_user}
    answer = _call(endpoint, "POST", ENROLL_PATH, None, body, "enroll this device")
    device_id, token = answer.get("device_id"), answer.get("token")
    if not (isinstance(device_id, str) and device_id and isinstance(token, str)):
        raise EngineError(
            f"the engine at {endpoint.base_url} answered the enrollment without a "
            "device_id and token; check that the URL is a spendtap engine"
        )
    log.info("delivery.enrolled engine=%s device_id=%s", endpoint.base_url, device_id)
    return DeviceCredentials(
        engine_url=endpoint.base_url,
        device_id=device_id,
        token=token,
        ca_bundle=endpoint.ca_bundle,
        enrolled_at=rfc3339(datetime.now(UTC)),
    )


def issue_code(
    endpoint: EngineEndpoint,
    admin_token: str,
    *,
    note: str | None = None,
    ttl_seconds: int | None = None,
) -> IssuedCode:
    """A new one-time enrollment code (admin)."""
    body = {"note": note, "ttl_seconds": ttl_seconds}
    answer = _call(
        endpoint, "POST", CODES_PATH, admin_token, body, "issue an enrollment code"
    )
    code, expires_at = answer.get("code"), answer.get("expires_at")
    if not isinstance(code, str) or not code:
        raise EngineError(
            f"the engine at {endpoint.base_url} issued no code; check that the URL "
            "is a spendtap engine with enrollment on"
        )
    return IssuedCode(code, str(expires_at or ""))


def revoke_device(endpoint: EngineEndpoint, admin_token: str, device_id: str) -> None:
    """Revoke a device's token (admin); its later batches get 401."""
    path = f"{DEVICES_PATH}/{quote(device_id, safe='')}/revoke"
    _call(endpoint, "POST", path, admin_token, {}, f"revoke device {device_id}")
    log.info(
        "delivery.device_revoked engine=%s device_id=%s", endpoint.base_url, device_id
    )


def list_devices(endpoint: EngineEndpoint, admin_token: str) -> list[dict[str, Any]]:
    """The engine's devices, as the engine describes them (raw JSON objects)."""
    answer = _call(endpoint, "GET", DEVICES_PATH, admin_token, None, "list devices")
    devices = answer.get("devices", answer.get("items"))
    if not isinstance(devices, list):
        raise EngineError(
            f"the engine at {endpoint.base_url} answered GET {DEVICES_PATH} without "
            "a device list; check that the engine supports enrollment"
        )
    return [d for d in devices if isinstance(d, dict)]


def _call(
    endpoint: EngineEndpoint,
    method: str,
    path: str,
    token: str | None,
    body: dict[str, Any] | None,
    action: str,
) -> dict[str, Any]:
    """One JSON request; the decoded JSON answer, or EngineError naming the fix."""
    url = endpoint.url(path)
    try:
        with endpoint.client(token, timeout=TIMEOUT_S, extra_headers={}) as client:
            response = client.request(method, url, json=body)
    except httpx.ConnectError as exc:
        raise EngineError(_connect_message(endpoint, action, exc)) from exc
    except httpx.HTTPError as exc:
        raise EngineError(
            f"cannot {action}: the request to {url} failed ({type(exc).__name__}: "
            f"{exc}); check the URL and try again"
        ) from exc
    if response.status_code >= 300:
        raise EngineError(_refusal(endpoint, response, action, path))
    if not response.content:
        return {}
    try:
        answer = response.json()
    except ValueError as exc:
        raise EngineError(
            f"cannot {action}: {url} did not answer JSON; check that the URL is a "
            "spendtap engine"
        ) from exc
    if isinstance(answer, list):
        return {"items": answer}
    return answer if isinstance(answer, dict) else {}


def _connect_message(
    endpoint: EngineEndpoint, action: str, exc: httpx.ConnectError
) -> str:
    text = str(exc)
    if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
        return (
            f"cannot {action}: the TLS certificate of {endpoint.base_url} is not "
            f"trusted ({text}); if the engine uses a company CA, give its PEM file "
            "with --ca-bundle FILE"
        )
    return (
        f"cannot {action}: the engine at {endpoint.base_url} cannot be reached "
        f"({text}); check the URL and that the engine is running"
    )


def _refusal(
    endpoint: EngineEndpoint, response: httpx.Response, action: str, path: str
) -> str:
    status = response.status_code
    said = error_message(response)
    detail = f" (the engine said: {said})" if said else ""
    if path == ENROLL_PATH and status == 401:
        return (
            f"cannot {action}: the engine refused the enrollment code as unknown, "
            f"already used or expired{detail}; ask an admin for a new one "
            "(`spendtap devices issue-code`)"
        )
    if status in (401, 403):
        return (
            f"cannot {action}: the engine refused the admin token (HTTP {status})"
            f"{detail}; give an admin API token with --admin-token or "
            "SPENDTAP_ADMIN_TOKEN"
        )
    if status in (404, 405):
        return (
            f"cannot {action}: {endpoint.url(path)} does not exist (HTTP {status})"
            f"{detail}; check the engine URL, or upgrade the engine to one with "
            "enrollment"
        )
    return f"cannot {action}: the engine answered HTTP {status}{detail}"
