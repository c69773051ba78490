"""Hub settings: where the data lives, which database, who is upstream and downstream, auth windows.

Settings come from three layers, later ones winning: built-in defaults, an optional TOML file
(``LIENTHONG_CONFIG`` or ``<data dir>/hub.toml``), then environment variables
(``LIENTHONG_DATA_DIR``, ``LIENTHONG_DATABASE_URL``, ...). Unknown keys in the TOML file are
refused with one :class:`~gateway.errors.ConfigurationError`, so a typo never silently falls back
to a default. Secrets given here (upstream and peer hub credentials) are *client* secrets this hub
presents to others; the secrets of systems that connect *to* this hub live encrypted in the
ledger (see :mod:`gateway.ledger.secrets`).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from gateway.errors import ConfigurationError
from gateway.files import read_toml
from gateway.limits import InputLimits

DEFAULT_DATA_DIR = Path("var")
VIETNAM_UTC_OFFSET_MINUTES = 7 * 60


@dataclass(frozen=True, slots=True)
class RemoteHubSettings:
    """An axis-compatible endpoint this hub talks to as a client (the upstream or a downstream hub).

    ``serves`` lists the centre codes (the directory's ``centerCode``) reachable through a
    downstream hub: its own code and those of hubs below it.
    """

    url: str
    system_id: str
    secret: str = field(repr=False)
    code: str = ""
    serves: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not self.url.startswith(("http://", "https://")):
            raise ConfigurationError(f"remote hub url must start with http:// or https://, got {self.url!r}")
        if not self.system_id or not self.secret:
            raise ConfigurationError(f"remote hub {self.url}: system_id and secret are required")
        if self.code and not self.serves:
            object.__setattr__(self, "serves", (self.code,))

    @classmethod
    def from_config(cls, data: Mapping[str, Any], where: str) -> RemoteHubSettings:
        allowed = {"url", "system_id", "secret", "code", "serves"}
        unknown = set(data) - allowed
        if unknown:
            raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})")
        try:
            serves = tuple(str(s) for s in data.get("serves", ()))
            code = str(data.get("code", ""))
            return cls(
                url=str(data["url"]).rstrip("/"),
                system_id=str(data["system_id"]),
                secret=str(data["secret"]),
                code=code,
                serves=serves or ((code,) if code else ()),
            )
        except KeyError as exc:
            raise ConfigurationError(f"{where}: missing key {exc.args[0]!r}") from exc


@dataclass(frozen=True, slots=True)
class ConsoleSettings:
    """The operator console (``/console``, gateway/server/console/): sessions, Airflow, signing profiles.

    ``cookie_secure`` = ``None`` marks the session cookie ``Secure`` when the request came over
    https (behind a TLS proxy run uvicorn with ``--proxy-headers``); ``True``/``False`` force it.
    ``signing_profiles`` (else ``$LIENTHONG_SIGNING_PROFILES``) gives the trust settings for the
    signature reports and the certificates whose expiry the overview shows. ``airflow_url`` is the
    Airflow API server (REST API ``/api/v2``); ``airflow_ui_url`` defaults to it.
    """

    enabled: bool = True
    session_minutes: int = 480
    cookie_secure: bool | None = None
    signing_profiles: Path | None = None
    airflow_url: str = ""
    airflow_ui_url: str = ""
    airflow_username: str = ""
    airflow_password: str = field(default="", repr=False)
    airflow_dag_prefix: str = "lienthong_"
    max_translate_bytes: int = 512 * 1024

    def __post_init__(self) -> None:
        if self.session_minutes < 1:
            raise ConfigurationError("console.session_minutes must be at least 1")
        if self.airflow_url and not self.airflow_url.startswith(("http://", "https://")):
            raise ConfigurationError(
                f"console.airflow_url must start with http:// or https://, got {self.airflow_url!r}"
            )

    @classmethod
    def from_config(cls, data: Mapping[str, Any], where: str, base: Path) -> ConsoleSettings:
        allowed = {f.name for f in fields(cls)}
        unknown = set(data) - allowed
        if unknown:
            raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(allowed)})")
        values = dict(data)
        if values.get("signing_profiles"):
            values["signing_profiles"] = (base / str(values["signing_profiles"])).resolve()
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigurationError(f"{where}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class AirflowEventSettings:
    """Where the hub posts Airflow asset events after a legacy push (``[airflow]`` in hub.toml).

    Off while ``url`` is empty. ``assets`` are URI templates (``{adapter}`` = the pushing
    adapter's code); the default names the adapter's outbound DAG (docs/airflow.md). The password
    comes from ``password_file`` (one line, relative to hub.toml) or ``$LIENTHONG_AIRFLOW_EVENTS_PASSWORD``,
    never from hub.toml itself, and is never logged.
    """

    url: str = ""
    username: str = ""
    password: str = field(default="", repr=False)
    password_file: Path | None = None
    assets: tuple[str, ...] = ("lienthong://legacy/{adapter}/default",)
    timeout_seconds: float = 10.0
    retries: int = 5
    retry_backoff_seconds: float = 2.0

    def __post_init__(self) -> None:
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ConfigurationError(f"airflow.url must start with http:// or https://, got {self.url!r}")
        if self.retries < 0 or self.timeout_seconds <= 0:
            raise ConfigurationError("airflow.retries must be >= 0 and airflow.timeout_seconds > 0")

    @property
    def enabled(self) -> bool:
        return bool(self.url)

    def secret(self) -> str:
        """The password: the file's first line when ``password_file`` is set, else ``password``."""
        if self.password_file is not None:
            try:
                return self.password_file.read_text(encoding="utf-8").splitlines()[0].strip()
            except (OSError, IndexError) as exc:
                raise ConfigurationError(f"airflow.password_file {self.password_file}: unreadable or empty") from exc
        return self.password

    @classmethod
    def from_config(cls, data: Mapping[str, Any], where: str, base: Path) -> AirflowEventSettings:
        allowed = {f.name for f in fields(cls)} - {"password"}
        unknown = set(data) - allowed
        if unknown:
            raise ConfigurationError(f"{where}: unknown keys {sorted(unknown)} (allowed: {sorted(allowed)}; "
                                     "the password goes in password_file or $LIENTHONG_AIRFLOW_EVENTS_PASSWORD)")
        values = dict(data)
        if values.get("password_file"):
            values["password_file"] = (base / str(values["password_file"])).resolve()
        if "assets" in values:
            if not isinstance(values["assets"], list) or not all(isinstance(a, str) for a in values["assets"]):
                raise ConfigurationError(f"{where}: assets must be a list of strings")
            values["assets"] = tuple(values["assets"])
        try:
            return cls(**values)
        except TypeError as exc:
            raise ConfigurationError(f"{where}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class HubSettings:
    """Everything the hub server, the delivery worker and the CLI need to know.

    ``node_id`` is this hub's own code (an interconnection-centre code such as ``02.29.W00``); it is
    written into the TraceHeader appended on every hop and is how loops are detected.
    ``timestamp_window_seconds`` bounds how far the SDK ``timestamp`` header may be from now
    (0 disables the check); the timestamp carries no zone, so it is read in
    ``timestamp_utc_offset_minutes`` (Vietnam time, UTC+7, by default).
    ``operator_key_hashes`` are SHA-256 hex digests of the operator API keys.
    ``fail_with_http_200`` answers axis refusals with HTTP 200 + the FAIL JSON, for agency clients
    that only read 200 bodies (see gateway/server/compat.py); 5xx answers are unchanged.
    """

    data_dir: Path = DEFAULT_DATA_DIR
    database_url: str = ""
    node_id: str = "lienthong"
    timestamp_window_seconds: int = 900
    timestamp_utc_offset_minutes: int = VIETNAM_UTC_OFFSET_MINUTES
    max_request_bytes: int = 64 * 1024 * 1024
    sqlite_synchronous: str = "FULL"
    sqlite_heap_limit_bytes: int = 16 * 1024 * 1024
    """SQLite's soft heap limit per process (its page caches give memory back above it; 0 = none)."""
    directory_file: Path | None = None
    upstream: RemoteHubSettings | None = None
    peers: tuple[RemoteHubSettings, ...] = ()
    operator_key_hashes: tuple[str, ...] = ()
    delivery_max_attempts: int = 10
    delivery_backoff_base_seconds: float = 1.0
    delivery_backoff_max_seconds: float = 300.0
    delivery_poll_seconds: float = 1.0
    client_timeout_seconds: float = 30.0
    client_retries: int = 2
    validate_packages: bool = True
    fail_with_http_200: bool = False
    console: ConsoleSettings = field(default_factory=ConsoleSettings)
    limits: InputLimits = field(default_factory=InputLimits)
    """Input budgets (``[limits]`` in hub.toml; table in docs/limits.md)."""
    # robustness (docs/operations.md "Limits"): free-space reserve, its check interval, the CPU/wall
    # budget of one legacy push's translation, and the public address the served WSDL names
    min_free_bytes: int = 256 * 1024 * 1024
    disk_check_interval_seconds: float = 2.0
    request_cpu_seconds: float = 20.0
    public_url: str = ""
    malloc_trim_seconds: float = 10.0
    """How often each server process hands malloc's kept-free memory back to the OS (0 = never)."""
    malloc_arena_max: int = 2
    """glibc malloc arenas per server process (0 = glibc's default, 8 per core; docs/limits.md)."""
    airflow: AirflowEventSettings = field(default_factory=AirflowEventSettings)
    """Asset events after a legacy push (``[airflow]`` in hub.toml; docs/airflow.md)."""

    def __post_init__(self) -> None:
        if not self.database_url:
            object.__setattr__(self, "database_url", f"sqlite:///{self.data_dir / 'lienthong.db'}")
        if self.sqlite_synchronous.upper() not in {"OFF", "NORMAL", "FULL", "EXTRA"}:
            raise ConfigurationError(
                f"sqlite_synchronous must be OFF/NORMAL/FULL/EXTRA, not {self.sqlite_synchronous!r}"
            )
        if self.malloc_trim_seconds < 0:
            raise ConfigurationError("malloc_trim_seconds must be >= 0 (0 never trims)")
        if self.malloc_arena_max < 0:
            raise ConfigurationError("malloc_arena_max must be >= 0 (0 keeps glibc's default)")
        if self.sqlite_heap_limit_bytes < 0:
            raise ConfigurationError("sqlite_heap_limit_bytes must be >= 0 (0 leaves SQLite's memory unbounded)")
        if self.timestamp_window_seconds < 0:
            raise ConfigurationError("timestamp_window_seconds must be >= 0 (0 disables the check)")

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "blobs"

    @property
    def key_file(self) -> Path:
        """Fernet key that encrypts system secrets in the ledger (created 0600 on first use)."""
        return self.data_dir / "secret.key"

    def with_(self, **changes: Any) -> HubSettings:
        return replace(self, **changes)

    def peer_for_center(self, center_code: str) -> RemoteHubSettings | None:
        """The downstream hub through which ``center_code`` is reachable, if any."""
        for peer in self.peers:
            if center_code in peer.serves:
                return peer
        return None


def hash_operator_key(key: str) -> str:
    """Operator API keys are kept and compared as SHA-256 digests, never in clear."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


_TABLE_KEYS = {"upstream", "peers", "operator_key_hashes", "console", "limits", "airflow"}
_SIMPLE_KEYS = {f.name for f in fields(HubSettings) if f.name not in _TABLE_KEYS}


def _from_toml(path: Path) -> dict[str, Any]:
    raw = read_toml(path, "hub configuration")
    out: dict[str, Any] = {}
    allowed = _SIMPLE_KEYS | _TABLE_KEYS
    unknown = set(raw) - allowed
    if unknown:
        raise ConfigurationError(f"{path}: unknown keys {sorted(unknown)}")
    for key, value in raw.items():
        _check_type(path, key, value)
        if key == "upstream":
            out[key] = RemoteHubSettings.from_config(value, f"{path} [upstream]")
        elif key == "peers":
            out[key] = tuple(
                RemoteHubSettings.from_config(p, f"{path} [[peers]] #{i + 1}") for i, p in enumerate(value)
            )
        elif key == "limits":
            if not isinstance(value, dict):
                raise ConfigurationError(f"{path}: [limits] must be a table")
            out[key] = InputLimits.from_config(value, f"{path} [limits]")
        elif key == "operator_key_hashes":
            out[key] = tuple(str(v).lower() for v in value)
        elif key == "airflow":
            out[key] = AirflowEventSettings.from_config(value, f"{path} [airflow]", path.parent)
        elif key == "console":
            out[key] = ConsoleSettings.from_config(value, f"{path} [console]", path.parent)
        elif key in {"data_dir", "directory_file"}:
            out[key] = (path.parent / str(value)).resolve()
        else:
            out[key] = value
    return out


_DEFAULTS = {f.name: f.default for f in fields(HubSettings)}


def _check_type(path: Path, key: str, value: Any) -> None:
    """Refuse a value of the wrong TOML type, naming the file and the key (a typo is not a default)."""
    if key in ("upstream", "console", "limits", "airflow"):
        ok, expected = isinstance(value, dict), "a table"
    elif key == "peers":
        ok = isinstance(value, list) and all(isinstance(p, dict) for p in value)
        expected = "an array of tables"
    elif key == "operator_key_hashes":
        ok = isinstance(value, list) and all(isinstance(v, str) for v in value)
        expected = "a list of strings"
    else:
        default = _DEFAULTS[key]
        if isinstance(default, bool):
            ok, expected = isinstance(value, bool), "true or false"
        elif isinstance(default, int):
            ok, expected = isinstance(value, int) and not isinstance(value, bool), "an integer"
        elif isinstance(default, float):
            ok, expected = isinstance(value, int | float) and not isinstance(value, bool), "a number"
        else:  # str, Path or optional Path
            ok, expected = isinstance(value, str), "a string"
    if not ok:
        raise ConfigurationError(f"{path}: {key} must be {expected}, got {value!r}")


def load_settings(env: Mapping[str, str] | None = None, **overrides: Any) -> HubSettings:
    """Build the settings from defaults, the TOML file, environment variables, then ``overrides``."""
    env = os.environ if env is None else env
    values: dict[str, Any] = {}
    data_dir = Path(overrides.get("data_dir") or env.get("LIENTHONG_DATA_DIR") or DEFAULT_DATA_DIR)
    config_path = env.get("LIENTHONG_CONFIG")
    candidate = Path(config_path) if config_path else data_dir / "hub.toml"
    if config_path or candidate.is_file():
        values.update(_from_toml(candidate))
    if "LIENTHONG_DATA_DIR" in env:
        values["data_dir"] = Path(env["LIENTHONG_DATA_DIR"])
    if "LIENTHONG_DATABASE_URL" in env:
        values["database_url"] = env["LIENTHONG_DATABASE_URL"]
    if "LIENTHONG_NODE_ID" in env:
        values["node_id"] = env["LIENTHONG_NODE_ID"]
    if "LIENTHONG_TIMESTAMP_WINDOW" in env:
        values["timestamp_window_seconds"] = _int(
            env["LIENTHONG_TIMESTAMP_WINDOW"], "LIENTHONG_TIMESTAMP_WINDOW"
        )
    if "LIENTHONG_OPERATOR_KEYS" in env:
        keys = [k.strip() for k in env["LIENTHONG_OPERATOR_KEYS"].split(",") if k.strip()]
        values["operator_key_hashes"] = tuple(values.get("operator_key_hashes", ())) + tuple(
            hash_operator_key(k) for k in keys
        )
    if "LIENTHONG_UPSTREAM_URL" in env:
        values["upstream"] = RemoteHubSettings(
            url=env["LIENTHONG_UPSTREAM_URL"].rstrip("/"),
            system_id=env.get("LIENTHONG_UPSTREAM_SYSTEM_ID", ""),
            secret=env.get("LIENTHONG_UPSTREAM_SECRET", ""),
            code="upstream",
        )
    if "LIENTHONG_AIRFLOW_PASSWORD" in env:  # the console's Airflow password, kept out of hub.toml
        console = values.get("console", ConsoleSettings())
        values["console"] = replace(console, airflow_password=env["LIENTHONG_AIRFLOW_PASSWORD"])
    if "LIENTHONG_AIRFLOW_EVENTS_PASSWORD" in env:  # the asset-event password, kept out of hub.toml
        events = values.get("airflow", AirflowEventSettings())
        values["airflow"] = replace(events, password=env["LIENTHONG_AIRFLOW_EVENTS_PASSWORD"])
    values.update({k: v for k, v in overrides.items() if v is not None})
    if "data_dir" in values:
        values["data_dir"] = Path(values["data_dir"])
    try:
        return HubSettings(**values)
    except TypeError as exc:
        raise ConfigurationError(f"invalid hub settings: {exc}") from exc


def _int(text: str, name: str) -> int:
    try:
        return int(text)
    except ValueError as exc:
        raise ConfigurationError(f"{name} must be an integer, got {text!r}") from exc


__all__ = ["AirflowEventSettings", "ConsoleSettings", "HubSettings", "RemoteHubSettings", "hash_operator_key",
           "load_settings"]
