"""The Airflow hook that owns the IO of the exchange DAGs: connections, clients, signer, settings.

Connections (Admin → Connections, or ``AIRFLOW_CONN_<ID>`` environment variables)::

    lienthong_hub     http(s)://<system id>:<secret>@<host>:<port>[/<path>]   the hub (or the axis)
    lienthong_legacy  http(s)://<host>:<port>/<path>                          the legacy SOAP endpoint

Host/port (and the optional path in ``schema``) give the base URL; ``login`` is the system id
registered at the hub and ``password`` its secret. ``extra`` may hold ``{"timeout": 30,
"retries": 2, "scheme": "https"}``. Nothing is read when a DAG file is parsed: the hook is only
built inside a running task.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook, Variable

from gateway.errors import ConfigurationError
from gateway.transport.axis import AxisClient

if TYPE_CHECKING:
    from gateway.exchange.flows import ExchangeContext
    from gateway.exchange.sources import LegacyConnector
    from gateway.signing.profiles import SigningSettings, TrustConfig
    from gateway.signing.sign import DocumentSigner

HUB_CONN_ID = "lienthong_hub"
LEGACY_CONN_ID = "lienthong_legacy"
VARIABLE_PREFIX = "lienthong_"


def default_work_dir() -> Path:
    """``$LIENTHONG_DATA_DIR/airflow`` (the gateway's data dir, default ``./var``)."""
    return Path(os.environ.get("LIENTHONG_DATA_DIR", "var")) / "airflow"


@dataclass(frozen=True)
class ExchangeSettings:
    """What a DAG run works with: each value from the run's params, else the Airflow Variable
    ``lienthong_<name>``, else the default here."""

    work_dir: Path = field(default_factory=default_work_dir)
    adapter: str = "qlvb_soap"
    signing_profile: str | None = None
    signing_profiles: str | None = None  # TOML file; default $LIENTHONG_SIGNING_PROFILES
    placeholder: str | None = None
    chunk_size: int = 500
    send_concurrency: int = 4  # sendEdoc calls in flight: outbound.DEFAULT_SEND_CONCURRENCY (not imported at parse)
    max_documents: int | None = None
    reject_invalid_signatures: bool = False
    organ_ids: tuple[str, ...] = ()
    directory_file: Path | None = None
    directory_min_ratio: float = 0.5
    max_failed_documents: int = 0  # permanent document failures a run tolerates before it fails
    lease_database_url: str | None = None  # default gateway.exchange.leases.default_lease_url()
    lease_minutes: int = 60

    @classmethod
    def resolve(cls, params: Mapping[str, Any], variables: Mapping[str, Any] | None = None,
                dag_defaults: Mapping[str, Any] | None = None) -> ExchangeSettings:
        """Params win over the DAG's own config (``dag_defaults``), that over Variables, Variables
        over defaults; types are checked here, once."""
        values: dict[str, Any] = {}
        for name in cls.__dataclass_fields__:
            value = params.get(name)
            if value is None and dag_defaults is not None:
                value = dag_defaults.get(name)
            if value is None:
                value = variables.get(name) if variables is not None else _variable(name)
            if value is not None and value != "":
                values[name] = value
        try:
            if "work_dir" in values:
                values["work_dir"] = Path(values["work_dir"])
            if "directory_file" in values:
                values["directory_file"] = Path(values["directory_file"])
            if "chunk_size" in values:
                values["chunk_size"] = int(values["chunk_size"])
            for number in ("max_documents", "max_failed_documents", "lease_minutes", "send_concurrency"):
                if number in values:
                    values[number] = int(values[number])
            if "directory_min_ratio" in values:
                values["directory_min_ratio"] = float(values["directory_min_ratio"])
            if "reject_invalid_signatures" in values:
                values["reject_invalid_signatures"] = _bool(values["reject_invalid_signatures"])
            if "organ_ids" in values:
                raw = values["organ_ids"]
                values["organ_ids"] = tuple(raw.split(",") if isinstance(raw, str) else raw)
        except (TypeError, ValueError) as exc:
            raise ConfigurationError(f"exchange settings: {exc}") from exc
        settings = cls(**values)
        if settings.chunk_size < 1:
            raise ConfigurationError(f"chunk_size must be at least 1, not {settings.chunk_size}")
        if settings.send_concurrency < 1:
            raise ConfigurationError(f"send_concurrency must be at least 1, not {settings.send_concurrency}")
        return settings

    @property
    def directory_target(self) -> Path:
        return self.directory_file or self.work_dir / "agencies.json"

    def snapshot(self) -> dict[str, Any]:
        """These settings as JSON values (for XCom): :meth:`from_snapshot` gives them back."""
        out: dict[str, Any] = {}
        for name in self.__dataclass_fields__:
            value = getattr(self, name)
            out[name] = str(value) if isinstance(value, Path) else list(value) if isinstance(value, tuple) else value
        return out

    @classmethod
    def from_snapshot(cls, values: Mapping[str, Any]) -> ExchangeSettings:
        """The settings a :meth:`snapshot` recorded, checked again; no Variable is read."""
        return cls.resolve(values, variables={})


def _bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _variable(name: str) -> Any:
    return Variable.get(VARIABLE_PREFIX + name, default=None)


def base_url(host: str | None, port: int | None, schema: str | None, conn_type: str | None,
             extra: Mapping[str, Any]) -> str:
    """The URL a connection names: ``scheme://host[:port][/path]``."""
    if not host:
        raise ConfigurationError("the connection has no host")
    scheme = str(extra.get("scheme") or (conn_type if conn_type in ("http", "https") else "http"))
    url = f"{scheme}://{host}" + (f":{port}" if port else "")
    return url + (f"/{schema.strip('/')}" if schema and schema.strip("/") else "")


class LienthongHook(BaseHook):
    """Builds the hub client, the legacy connector and the signer from Airflow configuration."""

    conn_name_attr = "hub_conn_id"
    default_conn_name = HUB_CONN_ID
    conn_type = "http"
    hook_name = "Liên thông hub"

    def __init__(self, hub_conn_id: str = HUB_CONN_ID, legacy_conn_id: str = LEGACY_CONN_ID) -> None:
        super().__init__()
        self.hub_conn_id = hub_conn_id
        self.legacy_conn_id = legacy_conn_id
        self._connections: dict[str, Any] = {}

    def _connection(self, conn_id: str) -> Any:
        """The connection, looked up once per hook (a task asks for each several times; every
        lookup is a call to Airflow's execution API)."""
        if conn_id not in self._connections:
            self._connections[conn_id] = self.get_connection(conn_id)
        return self._connections[conn_id]

    def _url(self, conn_id: str) -> tuple[str, Any]:
        conn = self._connection(conn_id)
        return base_url(conn.host, conn.port, conn.schema, conn.conn_type, conn.extra_dejson), conn

    def get_conn(self) -> AxisClient:
        """An axis client for the hub connection (close it, or use it as a context manager)."""
        url, conn = self._url(self.hub_conn_id)
        if not conn.login or not conn.password:
            raise ConfigurationError(
                f"connection {self.hub_conn_id}: login (system id) and password (secret) are required")
        extra = conn.extra_dejson
        return AxisClient(url, conn.login, conn.password, timeout=float(extra.get("timeout", 30)),
                          retries=int(extra.get("retries", 2)))

    def test_connection(self) -> tuple[bool, str]:
        """Airflow's "Test" button: one signed call that needs valid credentials."""
        try:
            with self.get_conn() as client:
                count = client.count_received()
        except Exception as exc:  # the UI shows the message; never the secret
            return False, f"{type(exc).__name__}: {exc}"
        return True, f"hub reachable; {count} document(s) waiting"

    def legacy_endpoint(self) -> tuple[str, float | None]:
        """The legacy connection's URL (SOAP) or folder (file drop: ``file://`` + *schema*) and timeout."""
        conn = self._connection(self.legacy_conn_id)
        timeout = conn.extra_dejson.get("timeout")
        if conn.conn_type in ("fs", "file") or conn.extra_dejson.get("path"):
            folder = conn.extra_dejson.get("path")
            if not folder:
                raise ConfigurationError(f"connection {self.legacy_conn_id}: a file drop needs extra.path")
            return f"file://{folder}", None
        url, _ = self._url(self.legacy_conn_id)
        return url, float(timeout) if timeout else None

    def legacy_connector(self, adapter_code: str) -> LegacyConnector:
        """The adapter bound to its legacy system: the SOAP endpoint or the drop folder of the legacy connection."""
        from gateway.adapters import AdapterRegistry
        from gateway.exchange.sources import open_connector

        endpoint, timeout = self.legacy_endpoint()
        return open_connector(AdapterRegistry().get(adapter_code), endpoint, timeout=timeout)

    def context(self, settings: ExchangeSettings, holder: str, *, legacy: bool = True) -> ExchangeContext:
        """The exchange context a task hands to :mod:`gateway.exchange.flows` (clients built lazily)."""
        from datetime import timedelta

        from gateway.exchange.flows import ExchangeContext
        from gateway.exchange.leases import LeaseStore, default_lease_url

        hub_url, hub_conn = self._url(self.hub_conn_id)
        legacy_url = self.legacy_endpoint()[0] if legacy else ""
        return ExchangeContext(
            work_dir=settings.work_dir, adapter=settings.adapter,
            open_legacy=lambda: self.legacy_connector(settings.adapter), open_hub=self.get_conn,
            open_signer=lambda: self.signer(settings), open_trust=lambda: self.trust(settings),
            legacy_endpoint=legacy_url, hub_endpoint=f"{hub_url}#{hub_conn.login}",
            placeholder=settings.placeholder, reject_invalid=settings.reject_invalid_signatures,
            organ_ids=settings.organ_ids, chunk_size=settings.chunk_size, max_documents=settings.max_documents,
            send_concurrency=settings.send_concurrency,
            max_failed=settings.max_failed_documents,
            leases=LeaseStore(settings.lease_database_url or default_lease_url(),
                              ttl=timedelta(minutes=settings.lease_minutes)),
            holder=holder)

    @staticmethod
    def signing_settings(settings: ExchangeSettings) -> SigningSettings:
        from gateway.signing.profiles import load_signing_settings

        return load_signing_settings(settings.signing_profiles)

    def signer(self, settings: ExchangeSettings) -> DocumentSigner:
        if not settings.signing_profile:
            raise ConfigurationError("no signing profile: set the DAG param or Variable lienthong_signing_profile")
        signing = self.signing_settings(settings)
        from gateway.signing.sign import DocumentSigner  # only the stamp task loads pyHanko's signer

        return DocumentSigner(signing.profile(settings.signing_profile), signing.trust)

    def trust(self, settings: ExchangeSettings) -> TrustConfig:
        return self.signing_settings(settings).trust


__all__ = ["HUB_CONN_ID", "LEGACY_CONN_ID", "ExchangeSettings", "LienthongHook", "base_url", "default_work_dir"]
