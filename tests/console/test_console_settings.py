"""The [console] table of hub.toml, and the Airflow reader's answers when Airflow is absent or down."""

from __future__ import annotations

import pytest
from hubkit import free_port

from gateway.config import ConsoleSettings, load_settings
from gateway.errors import ConfigurationError
from gateway.server.console.airflow import AirflowReader


def test_console_table_is_read_and_checked(tmp_path) -> None:
    (tmp_path / "hub.toml").write_text(
        '[console]\nsession_minutes = 30\nsigning_profiles = "p/profiles.toml"\nairflow_url = "http://127.0.0.1:1"\n'
    )
    settings = load_settings({"LIENTHONG_DATA_DIR": str(tmp_path), "LIENTHONG_AIRFLOW_PASSWORD": "pw"})
    assert settings.console.session_minutes == 30
    assert settings.console.signing_profiles == (tmp_path / "p" / "profiles.toml").resolve()
    assert settings.console.airflow_password == "pw" and "pw" not in repr(settings.console)
    (tmp_path / "hub.toml").write_text("[console]\nsesion_minutes = 30\n")
    with pytest.raises(ConfigurationError, match="sesion_minutes"):
        load_settings({"LIENTHONG_DATA_DIR": str(tmp_path)})
    with pytest.raises(ConfigurationError, match="airflow_url"):
        ConsoleSettings(airflow_url="ftp://x")


def test_airflow_not_configured_and_unreachable() -> None:
    assert AirflowReader(ConsoleSettings()).status().configured is False
    down = AirflowReader(ConsoleSettings(airflow_url=f"http://127.0.0.1:{free_port()}", airflow_username="u")).status()
    assert down.configured and down.error and "Connect" in down.error and not down.runs


def test_secure_cookie_follows_the_scheme_unless_forced() -> None:
    from types import SimpleNamespace

    from starlette.requests import Request

    from gateway.config import HubSettings
    from gateway.server.console.web import Console

    def req(scheme: str) -> Request:
        return Request({"type": "http", "scheme": scheme, "path": "/console/login", "headers": [],
                        "query_string": b"", "server": ("hub", 443)})

    def secure(forced, scheme: str) -> bool:
        fake = SimpleNamespace(hub=SimpleNamespace(settings=HubSettings(console=ConsoleSettings(cookie_secure=forced))))
        return Console.secure_cookies(fake, req(scheme))  # type: ignore[arg-type]

    assert secure(None, "https") and not secure(None, "http")
    assert secure(True, "http") and not secure(False, "https")
