"""``<home>/config.toml``: validation of outside data, and file < environment < flag."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model_provisioner import ModelProvisioner
from model_provisioner._config import (
    KEYS,
    Config,
    load_config,
    parse_config,
    read_config,
    with_environment,
)
from model_provisioner._errors import UsageError
from tests.cli_helpers import cli_runner
from tests.hub.repos import FixtureHub
from tests.hub.server import HubServer
from tests.makers import make_gguf_repo

toml_scalars = st.one_of(
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=30),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
)


def test_every_key_is_a_config_field() -> None:
    assert set(KEYS) == set(Config.__dataclass_fields__)


def test_a_full_config_reads_back(tmp_path: Path) -> None:
    (tmp_path / "config.toml").write_text(
        'budget = "200G"\nlimit_rate = "50M"\nmax_connections = 8\n'
        'endpoint = "http://mirror.local:8765/"\n'
    )
    assert read_config(tmp_path) == Config(200 * 10**9, 50 * 10**6, 8, "http://mirror.local:8765")
    assert read_config(tmp_path / "absent") == Config()


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from([*KEYS, "bogus", ""]), toml_scalars, max_size=5))
def test_hostile_tables_give_a_config_or_one_usage_error(data: dict[str, object]) -> None:
    try:
        config = parse_config(data, "config.toml")
    except UsageError as exc:
        line = str(exc)
        assert "\n" not in line and line.startswith("config.toml: ")
        assert any(f"{key}" in line for key in data)
        return
    assert config.budget is None or config.budget >= 1
    assert config.limit_rate is None or config.limit_rate >= 10_000
    assert config.max_connections is None or 1 <= config.max_connections <= 64
    assert config.endpoint is None or config.endpoint.startswith("http")


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=200))
def test_any_file_text_gives_a_config_or_one_usage_error(text: str) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "config.toml").write_text(text, encoding="utf-8", errors="surrogatepass")
        try:
            read_config(Path(tmp))
        except UsageError as exc:
            assert "config.toml" in str(exc)


@pytest.mark.parametrize(
    ("line", "named"),
    [
        ('budget = "lots"', "budget"),
        ('limit_rate = "5K"', "limit_rate"),
        ("max_connections = 0", "max_connections"),
        ('max_connections = "many"', "max_connections"),
        ('endpoint = "file:///etc"', "endpoint"),
        ("colour = 1", "colour"),
        ("budget = ", "TOML"),
    ],
)
def test_a_bad_config_is_one_line_exit_2_naming_the_key(
    home: Path, line: str, named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    (home / "config.toml").write_text(line + "\n")
    code, out, err = cli_runner(home, None, capsys)("pull", "Org/Any-GGUF")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and named in err


def test_environment_beats_the_file() -> None:
    file = Config(budget=1000, limit_rate=20_000, max_connections=2, endpoint="http://a")
    env = {"PROVISIONER_BUDGET": "2K", "PROVISIONER_MAX_CONNECTIONS": "3", "HF_ENDPOINT": ""}
    assert with_environment(file, env) == Config(2000, 20_000, 3, "http://a")
    with pytest.raises(UsageError, match=r"^\$PROVISIONER_LIMIT_RATE: "):
        with_environment(file, {"PROVISIONER_LIMIT_RATE": "fast"})


def test_the_endpoint_comes_from_flag_then_environment_then_file(
    home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (home / "config.toml").write_text('endpoint = "http://from-file:1"\n')
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    assert ModelProvisioner(home).endpoint == "http://from-file:1"
    monkeypatch.setenv("HF_ENDPOINT", "http://from-env:2")
    assert load_config(home).endpoint == "http://from-env:2"
    assert ModelProvisioner(home).endpoint == "http://from-env:2"
    assert ModelProvisioner(home, endpoint="http://from-flag:3").endpoint == "http://from-flag:3"


def test_a_configured_endpoint_and_connection_cap_are_used_by_pull(
    home: Path,
    hub_server: HubServer,
    fixture_hub: FixtureHub,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    make_gguf_repo(fixture_hub, "Org/Conf-GGUF", quants=("Q4_K_M",))
    monkeypatch.delenv("HF_ENDPOINT", raising=False)
    (home / "config.toml").write_text(f'endpoint = "{hub_server.url}"\nmax_connections = 1\n')
    provisioner = ModelProvisioner(home)
    assert provisioner._downloader().engine.options.connections == 1
    code, _, err = cli_runner(home, None, capsys)("pull", "Org/Conf-GGUF")
    assert code == 0, err
    assert ModelProvisioner(home).find_local_model("Org/Conf-GGUF") is not None


def test_a_fifo_or_a_folder_in_place_of_the_file_is_one_line_not_a_hang(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "config.toml")  # no writer: a plain open() would wait for one forever
    with pytest.raises(UsageError, match="not a regular file"):
        load_config(tmp_path, {})
    (tmp_path / "config.toml").unlink()
    (tmp_path / "config.toml").mkdir()
    with pytest.raises(UsageError, match="cannot read"):
        load_config(tmp_path, {})
