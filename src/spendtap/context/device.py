"""Who and where: the device id, the host, the OS user, and credential hints.

The device id and the credential salt are random, made once and kept in the data
directory (mode 0600). A credential hint is a short prefix of an HMAC-SHA256 of the
credential under that salt: the same key on this device always gives the same hint,
and the hint cannot be turned back into the key. The credential itself is never
returned, stored or logged.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import logging
import os
import re
import secrets
import socket
import stat
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qsl

from spendtap.errors import ConfigError
from spendtap.event import AuthKind

log = logging.getLogger(__name__)

DEVICE_ID_FILE = "device-id"
SALT_FILE = "credential-salt"
SALT_BYTES = 32
HINT_VERSION = "h1:"
HINT_HEX_CHARS = 12

#: Headers that carry a bare API key, in the order they are read.
API_KEY_HEADERS = ("x-api-key", "api-key", "x-goog-api-key")
#: Bearer token prefixes that say more than "an API key".
BEARER_PREFIXES: tuple[tuple[str, AuthKind], ...] = (
    ("sk-ant-oat", AuthKind.OAUTH),
    ("ya29.", AuthKind.GCP),
)
#: Session cookies of the AI web apps, read before any other cookie named "session".
SESSION_COOKIES = ("sessionKey", "__Secure-next-auth.session-token")

_JWT = re.compile(r"^eyJ[\w-]*\.[\w-]+\.[\w-]*$")
_SIGV4_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_SALT = re.compile(rf"^[0-9a-f]{{{SALT_BYTES * 2}}}$")


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    device_id: str
    hostname: str | None
    os_user: str | None
    credential_salt: bytes = field(repr=False)


def load_device(data_dir: Path) -> DeviceInfo:
    """The device's id and salt, made on first use and reused after.

    Raises ``ConfigError`` when the data directory cannot be written or read.
    """
    try:
        data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        device_id = _load_or_create(data_dir / DEVICE_ID_FILE, _new_uuid, _UUID)
        salt = _load_or_create(data_dir / SALT_FILE, _new_salt, _SALT)
    except OSError as exc:
        raise ConfigError(
            f"cannot keep the device id in {data_dir}: {exc.strerror or exc}; make "
            "that directory writable by this user or choose another data directory"
        ) from exc
    return DeviceInfo(device_id, _hostname(), _os_user(), bytes.fromhex(salt))


def credential_hint(secret: str, salt: bytes) -> str:
    """A short, salted, one-way hint of ``secret`` (``h1:`` and 12 hex digits)."""
    digest = hmac.new(salt, secret.encode("utf-8", "surrogatepass"), hashlib.sha256)
    return HINT_VERSION + digest.hexdigest()[:HINT_HEX_CHARS]


def auth_from_headers(
    headers: Mapping[str, str], salt: bytes, query: str = ""
) -> tuple[AuthKind | None, str | None]:
    """How the call authenticated, and a hint of the credential (never the secret).

    ``query`` is the request's query string, for keys sent as ``?key=``.
    """
    lowered = {name.lower(): value for name, value in headers.items()}
    found = _credential(lowered, query)
    if found is None:
        return None, None
    kind, secret = found
    return kind, credential_hint(secret, salt) if secret else None


def _credential(headers: Mapping[str, str], query: str) -> tuple[AuthKind, str] | None:
    authorization = headers.get("authorization", "").strip()
    if authorization:
        return _from_authorization(authorization)
    for name in API_KEY_HEADERS:
        value = headers.get(name, "").strip()
        if value:
            return AuthKind.API_KEY, value
    from_query = _from_query(query)
    if from_query is not None:
        return from_query
    session = _session_cookie(headers.get("cookie", ""))
    return (AuthKind.COOKIE, session) if session else None


def _from_authorization(value: str) -> tuple[AuthKind, str]:
    scheme, _, rest = value.partition(" ")
    if scheme.upper() == "AWS4-HMAC-SHA256":
        return AuthKind.AWS_SIGV4, _sigv4_key_id(rest)
    if scheme.lower() != "bearer":
        return AuthKind.API_KEY, value
    token = rest.strip()
    for prefix, kind in BEARER_PREFIXES:
        if token.startswith(prefix):
            return kind, token
    return (AuthKind.OAUTH if _JWT.match(token) else AuthKind.API_KEY), token


def _sigv4_key_id(text: str) -> str:
    match = _SIGV4_CREDENTIAL.search(text)
    return match.group(1) if match else ""


def _from_query(query: str) -> tuple[AuthKind, str] | None:
    if not query:
        return None
    params = dict(parse_qsl(query, max_num_fields=200))
    if params.get("key"):
        return AuthKind.API_KEY, params["key"]
    credential = params.get("X-Amz-Credential", "")
    if credential:
        return AuthKind.AWS_SIGV4, credential.split("/", 1)[0]
    return None


def _session_cookie(header: str) -> str | None:
    cookies: dict[str, str] = {}
    for pair in header.split(";"):
        name, sep, value = pair.strip().partition("=")
        if sep and name and value:
            cookies.setdefault(name, value.strip('"'))
    for name in SESSION_COOKIES:
        if name in cookies:
            return cookies[name]
    for name, value in cookies.items():
        if "session" in name.lower():
            return value
    return None


def _load_or_create(path: Path, make: Callable[[], str], valid: re.Pattern[str]) -> str:
    existing = _read_text(path)
    if existing is not None and valid.match(existing):
        _tighten_mode(path)
        return existing
    if existing is not None:
        log.warning("context.device.file_replaced path=%s reason=invalid", path)
    _write_private(path, make(), replace=existing is not None)
    # Another process may have created the file first: what is on disk wins.
    written = _read_text(path)
    if written is None or not valid.match(written):
        raise OSError(f"{path} was not written")
    return written


def _read_text(path: Path) -> str | None:
    try:
        return path.read_bytes().decode("ascii").strip()
    except FileNotFoundError:
        return None
    except UnicodeDecodeError:
        return ""


def _write_private(path: Path, value: str, *, replace: bool) -> None:
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(value + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        _publish(temp, path, replace=replace)
    finally:
        temp.unlink(missing_ok=True)


def _publish(temp: Path, path: Path, *, replace: bool) -> None:
    if replace:
        os.replace(temp, path)
        return
    try:
        os.link(temp, path)  # atomic, and never overwrites a concurrent winner
    except FileExistsError:
        pass
    except OSError:  # file systems without hard links
        os.replace(temp, path)


def _tighten_mode(path: Path) -> None:
    if os.name != "posix":
        return
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(0o600)
            log.warning("context.device.mode_tightened path=%s mode=%o", path, mode)
    except OSError as exc:
        log.warning("context.device.mode_unchanged path=%s error=%s", path, exc)


def _new_uuid() -> str:
    return str(uuid.uuid4())


def _new_salt() -> str:
    return secrets.token_hex(SALT_BYTES)


def _hostname() -> str | None:
    try:
        return socket.gethostname() or None
    except OSError:
        return None


def _os_user() -> str | None:
    try:
        return getpass.getuser() or None
    except (OSError, KeyError, ImportError):
        return None
