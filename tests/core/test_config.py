from pathlib import Path

import pytest

from heron.config import load_settings
from heron.errors import ConfigError


def test_defaults_put_home_under_cwd(tmp_path: Path) -> None:
    settings = load_settings(cwd=tmp_path, env={})
    assert settings.home == tmp_path / ".heron"
    assert settings.embedder == "bundled:minilm"


def test_file_then_env_then_overrides(tmp_path: Path) -> None:
    (tmp_path / "heron.toml").write_text('[heron]\nk = 7\nllm = "gguf:/m.gguf"\ncollection = "a"\n')
    env = {"HERON_K": "9", "HERON_HOME": str(tmp_path / "h")}
    settings = load_settings(cwd=tmp_path, env=env, collection="b")
    assert settings.k == 9
    assert settings.llm == "gguf:/m.gguf"
    assert settings.collection == "b"
    assert settings.home == tmp_path / "h"


def test_unknown_key_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "heron.toml").write_text("[heron]\nembeder = 'x'\n")
    with pytest.raises(ConfigError, match="embeder"):
        load_settings(cwd=tmp_path, env={})


def test_bad_toml_and_bad_value(tmp_path: Path) -> None:
    (tmp_path / "heron.toml").write_text("[heron\n")
    with pytest.raises(ConfigError, match="cannot read settings"):
        load_settings(cwd=tmp_path, env={})
    with pytest.raises(ConfigError, match="'k'"):
        load_settings(cwd=tmp_path / "nowhere", env={"HERON_K": "zero"})


def test_missing_config_named_by_env(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(cwd=tmp_path, env={"HERON_CONFIG": str(tmp_path / "no.toml")})
