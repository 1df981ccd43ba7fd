"""Who may do what: every request is checked before it reaches a route.

    principal        from                                    may
    device           a device token (std1.*), from enrollment  ingest only
    viewer, admin    an API token: --api-token NAME:ROLE:TOKEN read; admin also
                     or the database (sta1.*)                  manages devices
    shared token     --token (the first engine's ingest token) ingest and read
    open             nothing configured, see below             everything

An engine that listens only on loopback, with no token configured and no device or
API token in its database, runs open: the single-laptop default. Anything else is
guarded, and a request without a valid token gets a 401 and nothing more (the same
for an unknown path). Three requests pass unchecked: ``GET /healthz`` (liveness, no
data), ``GET /`` (the dashboard page, which holds no data: it asks for a token and
sends it with its API calls) and ``POST /v1/devices/enroll`` (the enrollment code is
the credential).
"""

from __future__ import annotations

import enum
import hmac
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from spendtap.engine import credentials
from spendtap.engine.credentials import API_PREFIX, DEVICE_PREFIX, Role
from spendtap.engine.http_errors import ApiError, ErrorCode, Problem, error_response
from spendtap.errors import ConfigError

log = logging.getLogger(__name__)

#: (method, path) pairs that are never checked.
UNCHECKED = frozenset(
    {
        ("GET", "/healthz"),
        ("HEAD", "/healthz"),
        ("GET", "/"),
        ("POST", "/v1/devices/enroll"),
    }
)
_FIX = "send the header Authorization: Bearer <a device or API token of this engine>"


class Permission(enum.StrEnum):
    INGEST = "ingest"
    READ = "read"
    ADMIN = "admin"


_ROLE_PERMISSIONS = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.ADMIN: frozenset({Permission.READ, Permission.ADMIN}),
}


class PrincipalKind(enum.StrEnum):
    OPEN = "open"
    DEVICE = "device"
    API_TOKEN = "api_token"
    SHARED_TOKEN = "shared_token"


@dataclass(frozen=True, slots=True)
class Principal:
    kind: PrincipalKind
    name: str
    permissions: frozenset[Permission]


OPEN = Principal(PrincipalKind.OPEN, "open", frozenset(Permission))


@dataclass(frozen=True, slots=True)
class ApiToken:
    """An API token given on the command line (``NAME:ROLE:TOKEN``)."""

    name: str
    role: Role
    token: str

    @classmethod
    def parse(cls, spec: str) -> ApiToken:
        name, _, rest = spec.partition(":")
        role, _, token = rest.partition(":")
        roles = ", ".join(r.value for r in Role)
        if not name or not token or role not in set(Role):
            raise ConfigError(
                f"--api-token {name or '?'}:{role or '?'}:... is not NAME:ROLE:TOKEN "
                f"with ROLE one of {roles}; write it like ops:admin:$(openssl rand "
                "-hex 24)"
            )
        if len(token) < 16:
            raise ConfigError(
                f"--api-token {name}: the token has {len(token)} characters; use at "
                "least 16 random ones"
            )
        return cls(name=name, role=Role(role), token=token)

    def __repr__(self) -> str:
        return f"ApiToken(name={self.name!r}, role={self.role.value!r})"


@dataclass(frozen=True, slots=True)
class AccessPolicy:
    """How the engine was configured to check requests."""

    api_tokens: tuple[ApiToken, ...] = ()
    shared_token: str | None = None
    enrollment: bool = False
    loopback_only: bool = True

    @property
    def may_run_open(self) -> bool:
        return (
            self.loopback_only
            and not self.api_tokens
            and self.shared_token is None
            and not self.enrollment
        )

    def check_exposure(self, host: str) -> None:
        """ConfigError if the engine would listen beyond loopback unguarded."""
        if self.loopback_only or self.enrollment:
            return
        raise ConfigError(
            f"the engine would listen on {host}, reachable from other machines, "
            "without enrollment: start it with --enrollment (and --api-token "
            "NAME:admin:TOKEN to issue device codes), or listen on 127.0.0.1"
        )


class Gate:
    """Turns a request's Authorization header into a Principal, or an ApiError."""

    def __init__(self, policy: AccessPolicy, db: Engine) -> None:
        self.policy = policy
        self._db = db
        self._by_digest = {credentials.digest(t.token): t for t in policy.api_tokens}
        self._closed = not policy.may_run_open

    def is_open(self) -> bool:
        """Open until a device or API token appears in the database (then closed)."""
        if not self._closed and credentials.has_credentials(self._db):
            self._closed = True
            log.info("engine.access.closed reason=credentials_in_database")
        return not self._closed

    def authenticate(self, authorization: str | None) -> Principal:
        if self.is_open():
            return OPEN
        token = _bearer_token(authorization)
        if token is None:
            raise unauthorized(ErrorCode.UNAUTHORIZED, "no bearer token was sent")
        return self._principal(token)

    def _principal(self, token: str) -> Principal:
        shared = self.policy.shared_token
        if shared is not None and hmac.compare_digest(token.encode(), shared.encode()):
            permissions = frozenset({Permission.INGEST, Permission.READ})
            return Principal(PrincipalKind.SHARED_TOKEN, "shared", permissions)
        configured = self._by_digest.get(credentials.digest(token))
        if configured is not None:
            permissions = _ROLE_PERMISSIONS[configured.role]
            return Principal(PrincipalKind.API_TOKEN, configured.name, permissions)
        parts = credentials.split_token(token)
        if parts is not None and parts[0] == DEVICE_PREFIX:
            return self._device(parts[1], token)
        if parts is not None and parts[0] == API_PREFIX:
            return self._stored_api_token(parts[1], token)
        raise unauthorized(
            ErrorCode.UNAUTHORIZED, "the bearer token is not a token of this engine"
        )

    def _device(self, device_id: str, token: str) -> Principal:
        stored = credentials.find_device(self._db, device_id)
        if stored is None or not _same(stored.token_hash, token):
            raise unauthorized(
                ErrorCode.DEVICE_UNKNOWN,
                "the device token is not one this engine issued",
                "enroll the device again with a new code (spendtap enroll)",
            )
        if stored.revoked:
            raise unauthorized(
                ErrorCode.DEVICE_REVOKED,
                f"device {device_id} was revoked",
                "ask an admin for a new enrollment code and enroll again",
            )
        return Principal(
            PrincipalKind.DEVICE, device_id, frozenset({Permission.INGEST})
        )

    def _stored_api_token(self, token_id: str, token: str) -> Principal:
        stored = credentials.find_api_token(self._db, token_id)
        if stored is None or stored.revoked or not _same(stored.token_hash, token):
            raise unauthorized(
                ErrorCode.UNAUTHORIZED, "the API token is unknown or was revoked"
            )
        assert stored.role is not None
        return Principal(
            PrincipalKind.API_TOKEN, stored.name, _ROLE_PERMISSIONS[stored.role]
        )


def _same(token_hash: str, token: str) -> bool:
    return hmac.compare_digest(token_hash, credentials.digest(token))


def _bearer_token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def unauthorized(code: ErrorCode, message: str, fix: str = _FIX) -> ApiError:
    return ApiError(
        401,
        code,
        f"{message}; {fix}",
        (Problem(message, fix, field="Authorization"),),
        headers={"WWW-Authenticate": "Bearer"},
    )


class AccessMiddleware:
    """Checks every HTTP request (but UNCHECKED) before routing, so no path leaks."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (scope["method"], scope["path"]) in UNCHECKED:
            await self.app(scope, receive, send)
            return
        state = scope["app"].state.spendtap
        header = Headers(scope=scope).get("authorization")
        try:
            principal = await run_in_threadpool(state.gate.authenticate, header)
        except ApiError as exc:
            log.warning("engine.auth.rejected code=%s path=%s", exc.code, scope["path"])
            state.metrics.unauthorized(exc.code)
            await error_response(exc)(scope, receive, send)
            return
        except SQLAlchemyError as exc:
            log.error("engine.auth.database_failed error=%s", exc)
            error = ApiError(
                503,
                ErrorCode.DATABASE_UNAVAILABLE,
                "the engine cannot check the token: its database does not answer; "
                "retry later",
                headers={"Retry-After": "1"},
            )
            await error_response(error)(scope, receive, send)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)


_bearer = HTTPBearer(auto_error=False, description="a device or API token")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def principal_of(request: Request) -> Principal:
    principal = getattr(request.state, "principal", None)
    if not isinstance(principal, Principal):
        raise unauthorized(ErrorCode.UNAUTHORIZED, "the request was not checked")
    return principal


def require(permission: Permission) -> Callable[[Request, Credentials], Principal]:
    """A route dependency: the caller's Principal if it may ``permission``, else 403."""

    def check(request: Request, _: Credentials) -> Principal:
        principal = principal_of(request)
        if permission not in principal.permissions:
            allowed = ", ".join(sorted(principal.permissions)) or "nothing"
            message = (
                f"this {principal.kind.value.replace('_', ' ')} may {allowed}, "
                f"not {permission.value}"
            )
            raise ApiError(
                403,
                ErrorCode.FORBIDDEN,
                f"{message}; use a token with the {permission.value} permission",
                (
                    Problem(
                        message, f"use a {_HOLDER[permission]}", field="Authorization"
                    ),
                ),
            )
        return principal

    return check


_HOLDER = {
    Permission.INGEST: "device token (spendtap enroll)",
    Permission.READ: "viewer or admin API token",
    Permission.ADMIN: "admin API token",
}
needs_ingest = require(Permission.INGEST)
needs_read = require(Permission.READ)
needs_admin = require(Permission.ADMIN)
