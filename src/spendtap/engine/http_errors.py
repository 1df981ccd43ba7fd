"""The engine's one JSON error shape, and the handlers that make every error use it.

Every non-2xx answer has the body::

    {"error": {"code": "...", "message": "...", "details": [
        {"index": 3, "field": "input_tokens", "message": "...", "fix": "..."}]}}

``index`` is the event's position in the batch (null when the problem is not in one
event); ``field`` names the offending field or query parameter (null when none).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger(__name__)


class ErrorCode(enum.StrEnum):
    INVALID_BATCH = "invalid_batch"
    BATCH_TOO_LARGE = "batch_too_large"
    UNSUPPORTED_ENCODING = "unsupported_encoding"
    UNAUTHORIZED = "unauthorized"
    FORBIDDEN = "forbidden"
    DEVICE_UNKNOWN = "device_unknown"
    DEVICE_REVOKED = "device_revoked"
    ENROLLMENT_CODE_INVALID = "enrollment_code_invalid"
    INVALID_REQUEST = "invalid_request"
    INVALID_QUERY = "invalid_query"
    NOT_FOUND = "not_found"
    METHOD_NOT_ALLOWED = "method_not_allowed"
    HTTP_ERROR = "http_error"
    DATABASE_UNAVAILABLE = "database_unavailable"
    INTERNAL = "internal_error"


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a request: where it is, what it is, and what to do."""

    message: str
    fix: str
    index: int | None = None
    field: str | None = None

    def to_json(self) -> dict[str, object]:
        return {
            "index": self.index,
            "field": self.field,
            "message": self.message,
            "fix": self.fix,
        }


class ProblemOut(BaseModel):
    index: int | None
    field: str | None
    message: str
    fix: str


class ErrorBody(BaseModel):
    code: str
    message: str
    details: list[ProblemOut]


class ErrorOut(BaseModel):
    """The one error shape, for the OpenAPI spec."""

    error: ErrorBody


class ApiError(Exception):
    """An answer in the error shape; raised anywhere below a route."""

    def __init__(
        self,
        status: int,
        code: ErrorCode,
        message: str,
        details: tuple[Problem, ...] = (),
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.headers = dict(headers or {})


def error_body(
    code: ErrorCode, message: str, details: tuple[Problem, ...] = ()
) -> dict[str, object]:
    return {
        "error": {
            "code": code.value,
            "message": message,
            "details": [problem.to_json() for problem in details],
        }
    }


def error_response(error: ApiError) -> JSONResponse:
    body = error_body(error.code, error.message, error.details)
    return JSONResponse(body, status_code=error.status, headers=error.headers)


async def _on_api_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ApiError)
    return error_response(exc)


_HTTP_CODES = {
    400: ErrorCode.INVALID_REQUEST,
    404: ErrorCode.NOT_FOUND,
    405: ErrorCode.METHOD_NOT_ALLOWED,
}


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = _HTTP_CODES.get(exc.status_code, ErrorCode.HTTP_ERROR)
    message = f"{request.method} {request.url.path}: {exc.detail}"
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(_allowed_methods(request))
    error = ApiError(exc.status_code, code, message, headers=headers)
    return error_response(error)


def _allowed_methods(request: Request) -> list[str]:
    """Every method some route takes on this path (routes are split by method)."""
    allowed = []
    for method in _METHODS:
        scope = {**request.scope, "method": method}
        if any(r.matches(scope)[0] is Match.FULL for r in request.app.routes):
            allowed.append(method)
    return allowed


_METHODS = ("DELETE", "GET", "HEAD", "PATCH", "POST", "PUT")


async def _on_request_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = tuple(_validation_problem(item) for item in exc.errors())
    message = f"{request.method} {request.url.path}: the request is not valid"
    in_body = any(item.get("loc", ("",))[0] == "body" for item in exc.errors())
    code = ErrorCode.INVALID_REQUEST if in_body else ErrorCode.INVALID_QUERY
    error = ApiError(422, code, message, details)
    return error_response(error)


def _validation_problem(item: Mapping[str, Any]) -> Problem:
    field = ".".join(str(part) for part in item.get("loc", ())[1:]) or None
    if item.get("type") == "string_pattern_mismatch":  # the one pattern: no NUL
        return Problem(
            message=f"{field} holds a NUL character (U+0000), which no store can keep",
            fix="drop the NUL from it at the source",
            field=field,
        )
    return Problem(
        message=str(item.get("msg", "invalid")),
        fix="see /openapi.json for the parameters this endpoint takes",
        field=field,
    )


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("engine.request.failed path=%s", request.url.path)
    message = "the engine failed on this request; its log has the cause"
    return error_response(ApiError(500, ErrorCode.INTERNAL, message))


def install_error_handlers(app: FastAPI) -> None:
    """Make every error the app answers use the one shape."""
    app.add_exception_handler(ApiError, _on_api_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)
    app.add_exception_handler(RequestValidationError, _on_request_validation)
    app.add_exception_handler(Exception, _on_unexpected)
