"""Hub settings from TOML and the environment: layering, and errors that name the file and the key."""

from __future__ import annotations

from pathlib import Path

import pytest

from gateway.config import HubSettings, RemoteHubSettings, hash_operator_key, load_settings
from gateway.errors import ConfigurationError


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "hub.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_toml_values_are_read_and_paths_are_relative_to_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, """
node_id = "02.29.W00"
timestamp_window_seconds = 60
data_dir = "state"
directory_file = "dir/agencies.json"
delivery_poll_seconds = 0.5
validate_packages = false
operator_key_hashes = ["ABCDEF"]

[upstream]
url = "https://axis.example/"
system_id = "me"
secret = "s3"
code = "AXIS"

[[peers]]
url = "http://127.0.0.1:9000"
system_id = "p1"
secret = "ps"
code = "P1"
serves = ["P1", "P1.SUB"]
""")
    s = load_settings({"LIENTHONG_CONFIG": str(path)})
    assert s.node_id == "02.29.W00" and s.timestamp_window_seconds == 60
    assert s.data_dir == (tmp_path / "state").resolve()
    assert s.directory_file == (tmp_path / "dir" / "agencies.json").resolve()
    assert s.delivery_poll_seconds == 0.5 and s.validate_packages is False
    assert s.operator_key_hashes == ("abcdef",)
    assert s.upstream == RemoteHubSettings("https://axis.example", "me", "s3", code="AXIS", serves=("AXIS",))
    assert s.peers == (RemoteHubSettings("http://127.0.0.1:9000", "p1", "ps", code="P1", serves=("P1", "P1.SUB")),)
    assert s.peer_for_center("P1.SUB") is s.peers[0] and s.peer_for_center("X") is None
    assert s.database_url == f"sqlite:///{(tmp_path / 'state').resolve() / 'lienthong.db'}"


def test_hub_toml_in_the_data_dir_is_found_and_the_environment_wins(tmp_path: Path) -> None:
    _write(tmp_path, 'node_id = "FROM.TOML"\ntimestamp_window_seconds = 60\n')
    env = {"LIENTHONG_DATA_DIR": str(tmp_path), "LIENTHONG_NODE_ID": "FROM.ENV",
           "LIENTHONG_DATABASE_URL": "sqlite:///x.db", "LIENTHONG_OPERATOR_KEYS": " k1 , ,k2 "}
    s = load_settings(env)
    assert s.node_id == "FROM.ENV" and s.timestamp_window_seconds == 60
    assert s.data_dir == tmp_path and s.database_url == "sqlite:///x.db"
    assert s.operator_key_hashes == (hash_operator_key("k1"), hash_operator_key("k2"))
    assert load_settings(env, node_id="FROM.ARG").node_id == "FROM.ARG"


def test_no_file_means_defaults(tmp_path: Path) -> None:
    s = load_settings({"LIENTHONG_DATA_DIR": str(tmp_path / "empty")})
    assert s == HubSettings(data_dir=tmp_path / "empty")


def test_environment_upstream_and_timestamp_window(tmp_path: Path) -> None:
    s = load_settings({"LIENTHONG_DATA_DIR": str(tmp_path), "LIENTHONG_TIMESTAMP_WINDOW": "0",
                       "LIENTHONG_UPSTREAM_URL": "http://127.0.0.1:1/", "LIENTHONG_UPSTREAM_SYSTEM_ID": "me",
                       "LIENTHONG_UPSTREAM_SECRET": "sec"})
    assert s.timestamp_window_seconds == 0
    assert s.upstream == RemoteHubSettings("http://127.0.0.1:1", "me", "sec", code="upstream")
    with pytest.raises(ConfigurationError, match="LIENTHONG_TIMESTAMP_WINDOW must be an integer, got 'soon'"):
        load_settings({"LIENTHONG_DATA_DIR": str(tmp_path), "LIENTHONG_TIMESTAMP_WINDOW": "soon"})


def test_an_unknown_key_is_refused_naming_file_and_key(tmp_path: Path) -> None:
    path = _write(tmp_path, 'node_id = "X"\ntimestamp_windows_seconds = 60\n')  # typo
    with pytest.raises(ConfigurationError) as info:
        load_settings({"LIENTHONG_CONFIG": str(path)})
    assert str(path) in str(info.value) and "timestamp_windows_seconds" in str(info.value)


@pytest.mark.parametrize(("table", "needle"), [
    ('[upstream]\nurl = "http://a"\nsystem_id = "s"\nsecret = "k"\nkode = "X"\n', "[upstream]: unknown keys ['kode']"),
    ('[upstream]\nurl = "http://a"\nsecret = "k"\n', "[upstream]: missing key 'system_id'"),
    ('[[peers]]\nurl = "http://a"\nsystem_id = "s"\nsecret = "k"\n[[peers]]\nurl = "http://b"\nsecret = "k"\n',
     "[[peers]] #2: missing key 'system_id'"),
])
def test_errors_in_remote_hub_tables_name_the_file_and_the_table(tmp_path: Path, table: str, needle: str) -> None:
    path = _write(tmp_path, table)
    with pytest.raises(ConfigurationError) as info:
        load_settings({"LIENTHONG_CONFIG": str(path)})
    assert str(path) in str(info.value) and needle in str(info.value)


def test_bad_remote_values_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="must start with http"):
        RemoteHubSettings("ftp://a", "s", "k")
    with pytest.raises(ConfigurationError, match="system_id and secret are required"):
        RemoteHubSettings("http://a", "s", "")
    assert "secret=" not in repr(RemoteHubSettings("http://a", "s", "k"))


@pytest.mark.parametrize(("text", "needle"), [
    ('timestamp_window_seconds = "60"\n', "timestamp_window_seconds must be an integer, got '60'"),
    ("node_id = 5\n", "node_id must be a string, got 5"),
    ('validate_packages = "no"\n', "validate_packages must be true or false, got 'no'"),
    ("max_request_bytes = true\n", "max_request_bytes must be an integer, got True"),
    ('delivery_poll_seconds = "1"\n', "delivery_poll_seconds must be a number, got '1'"),
    ("data_dir = 3\n", "data_dir must be a string, got 3"),
    ('operator_key_hashes = "abc"\n', "operator_key_hashes must be a list of strings"),
    ('upstream = "http://a"\n', "upstream must be a table"),
    ('peers = {url = "http://a"}\n', "peers must be an array of tables"),
])
def test_a_value_of_the_wrong_type_is_refused_naming_file_and_key(tmp_path: Path, text: str, needle: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigurationError) as info:
        load_settings({"LIENTHONG_CONFIG": str(path)})
    assert str(path) in str(info.value) and needle in str(info.value)


def test_delivery_poll_seconds_accepts_an_integer(tmp_path: Path) -> None:
    s = load_settings({"LIENTHONG_CONFIG": str(_write(tmp_path, "delivery_poll_seconds = 2\n"))})
    assert s.delivery_poll_seconds == 2.0


def test_invalid_toml_names_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "node_id = \n")
    with pytest.raises(ConfigurationError, match="is not valid TOML") as info:
        load_settings({"LIENTHONG_CONFIG": str(path)})
    assert str(path) in str(info.value)


def test_a_missing_explicit_config_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="cannot read hub configuration"):
        load_settings({"LIENTHONG_CONFIG": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize(("text", "needle"), [
    ('sqlite_synchronous = "SOMETIMES"\n', "sqlite_synchronous must be OFF/NORMAL/FULL/EXTRA"),
    ("timestamp_window_seconds = -1\n", "timestamp_window_seconds must be >= 0"),
])
def test_out_of_range_values_are_refused(tmp_path: Path, text: str, needle: str) -> None:
    with pytest.raises(ConfigurationError, match=needle):
        load_settings({"LIENTHONG_CONFIG": str(_write(tmp_path, text))})


def test_settings_helpers(tmp_path: Path) -> None:
    s = HubSettings(data_dir=tmp_path)
    assert s.blob_dir == tmp_path / "blobs" and s.key_file == tmp_path / "secret.key"
    assert s.with_(node_id="N").node_id == "N" and s.node_id == "lienthong"
    assert hash_operator_key("k") == "8254c329a92850f6d539dd376f4816ee2764517da5e0235514af433164480d7a"
