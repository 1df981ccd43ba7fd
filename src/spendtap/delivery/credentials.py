"""The device token this laptop got at enrollment, kept in the data directory.

``<data_dir>/device-token.json``, mode 0600 (user-only), written atomically:

    {"engine_url": "https://spendtap.example.com", "device_id": "dev_3f2a...",
     "token": "...", "ca_bundle": "/home/me/.local/share/spendtap/engine-ca.pem",
     "enrolled_at": "2026-01-05T09:00:03.870Z"}

A CA bundle given at enrollment is copied beside it (``engine-ca.pem``), so the
collector keeps trusting the engine if the original file moves. The token is never
printed or logged.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from spendtap.delivery.endpoint import EngineEndpoint
from spendtap.errors import ConfigError

log = logging.getLogger(__name__)

CREDENTIALS_FILE = "device-token.json"
ENGINE_CA_FILE = "engine-ca.pem"


@dataclass(frozen=True, slots=True)
class DeviceCredentials:
    engine_url: str
    device_id: str
    token: str = field(repr=False)
    ca_bundle: Path | None
    enrolled_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "engine_url": self.engine_url,
            "device_id": self.device_id,
            "token": self.token,
            "ca_bundle": str(self.ca_bundle) if self.ca_bundle else None,
            "enrolled_at": self.enrolled_at,
        }

    @classmethod
    def from_json(cls, data: object) -> DeviceCredentials:
        """Credentials from a decoded file; TypeError or KeyError when malformed."""
        if not isinstance(data, dict):
            raise TypeError("the file must hold a JSON object")
        values = {k: data[k] for k in ("engine_url", "device_id", "token")}
        if not all(isinstance(v, str) and v for v in values.values()):
            raise TypeError("engine_url, device_id and token must be strings")
        ca = data.get("ca_bundle")
        return cls(
            engine_url=values["engine_url"],
            device_id=values["device_id"],
            token=values["token"],
            ca_bundle=Path(ca) if isinstance(ca, str) and ca else None,
            enrolled_at=str(data.get("enrolled_at") or ""),
        )


@dataclass(frozen=True, slots=True)
class EngineTarget:
    """Where a collector ships, with which token and CA (None: ship nowhere)."""

    engine_url: str | None
    token: str | None = field(default=None, repr=False)
    ca_bundle: Path | None = None
    device_id: str | None = None


def credentials_path(data_dir: Path) -> Path:
    return data_dir / CREDENTIALS_FILE


def keep_ca_bundle(data_dir: Path, ca_bundle: Path | None) -> Path | None:
    """Copy the engine's CA bundle into the data dir; the copy's path."""
    if ca_bundle is None:
        return None
    target = data_dir / ENGINE_CA_FILE
    if ca_bundle.resolve() != target.resolve():
        shutil.copyfile(ca_bundle, target)
    return target


def save_credentials(data_dir: Path, credentials: DeviceCredentials) -> Path:
    """Write the credentials file (0600) atomically; its path."""
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = credentials_path(data_dir)
    temp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    data = json.dumps(credentials.to_json(), indent=2).encode()
    try:
        fd = os.open(temp, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
        try:
            if hasattr(os, "fchmod"):  # an old temp file may have had another mode
                os.fchmod(fd, 0o600)
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temp, path)
    except OSError as exc:
        temp.unlink(missing_ok=True)
        raise ConfigError(
            f"cannot write the device token to {path}: {exc.strerror}; check that "
            "this user may write to the data directory"
        ) from exc
    return path


def load_credentials(data_dir: Path) -> DeviceCredentials | None:
    """The stored credentials, or None before enrollment.

    A file readable by others is tightened to 0600 (and that is logged); a damaged
    file is a ConfigError that says how to enroll again.
    """
    path = credentials_path(data_dir)
    try:
        mode = path.stat().st_mode
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(
            f"cannot read the device token {path}: {exc.strerror}; check its "
            "permissions (it must belong to this user, mode 0600)"
        ) from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        log.warning("delivery.credentials.mode_tightened path=%s", path)
        path.chmod(0o600)
    try:
        return DeviceCredentials.from_json(json.loads(raw))
    except (ValueError, TypeError, KeyError) as exc:
        raise ConfigError(
            f"the device token file {path} is damaged ({type(exc).__name__}); "
            "delete it and enroll again with `spendtap enroll --engine URL --code CODE`"
        ) from exc


def resolve_target(
    data_dir: Path,
    engine_url: str | None,
    token: str | None,
    ca_bundle: Path | None,
) -> EngineTarget:
    """Fill what the command line left out from the stored enrollment.

    The stored token is used only for the engine it was issued by: a different
    ``--engine`` without ``--token`` ships with no token (and says so).
    """
    stored = load_credentials(data_dir)
    if stored is None:
        return EngineTarget(engine_url, token, ca_bundle)
    url = engine_url or stored.engine_url
    if token is not None:
        return EngineTarget(url, token, ca_bundle or stored.ca_bundle)
    enrolled = EngineEndpoint.parse(stored.engine_url)
    if not EngineEndpoint.parse(url).same_engine(enrolled):
        log.warning(
            "delivery.credentials.other_engine enrolled=%s engine=%s token=none",
            stored.engine_url,
            url,
        )
        return EngineTarget(url, None, ca_bundle)
    return EngineTarget(
        url, stored.token, ca_bundle or stored.ca_bundle, stored.device_id
    )
