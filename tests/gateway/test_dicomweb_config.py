"""``[destinations.NAME] kind = "dicomweb"``: typed, validated, secrets read but never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from panelgate.acquisition.agent import destinations_of
from panelgate.acquisition.config import Config, load_config, parse_config
from panelgate.acquisition.errors import ConfigError
from panelgate.gateway.dicomweb import WebDestination
from panelgate.gateway.pacs import Destination

SECRET = "t0ken-Do-Not-Print"


def _load(tmp_path: Path, table: str) -> tuple[Path, Config]:
    path = tmp_path / "gateway.toml"
    path.write_text(f"[destinations.web]\n{table}\n[destinations.pacs]\nport = 4242\n")
    return path, load_config(path)


def test_a_dicomweb_destination_beside_a_dimse_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = tmp_path / "web.token"
    token.write_text(SECRET + "\n")
    _, config = _load(
        tmp_path,
        'kind = "dicomweb"\nurl = "http://127.0.0.1:8042/dicom-web/"\nauth = "bearer"\n'
        f'token_file = "{token}"\nmax_parts = 4\ncommitment = true\nnetwork_s = 30',
    )
    destinations = destinations_of(config)
    web, pacs = destinations["web"], destinations["pacs"]
    assert isinstance(web, WebDestination) and isinstance(pacs, Destination)
    assert web.url == "http://127.0.0.1:8042/dicom-web"
    assert (web.max_parts, web.idle_s, web.commitment) == (4, 30.0, True)
    assert web.credentials is not None and web.credentials.secret == SECRET
    assert SECRET not in repr(config) and SECRET not in repr(web)

    monkeypatch.setenv("PG_WEB_PASSWORD", "pa55-env")
    _, config = _load(
        tmp_path,
        'kind = "dicomweb"\nurl = "https://archive.example.org/dicom-web"\nauth = "basic"\n'
        'username = "alice"\npassword_env = "PG_WEB_PASSWORD"',
    )
    web = destinations_of(config)["web"]
    assert isinstance(web, WebDestination) and web.credentials is not None
    assert (web.credentials.username, web.credentials.secret) == ("alice", "pa55-env")

    _, config = _load(
        tmp_path,
        f'kind = "dicomweb"\nurl = "http://localhost/x"\nauth = "bearer"\ntoken = "{SECRET}"',
    )
    assert SECRET not in repr(config)


@pytest.mark.parametrize(
    ("table", "key", "words"),
    [
        ('kind = "dicomweb"\nurl = "http://pacs.example.org/dicom-web"', "url", "unencrypted"),
        ('kind = "dicomweb"\nurl = "ftp://127.0.0.1/x"', "url", "http:// or https://"),
        ('kind = "dicomweb"', "url", "required"),
        ('kind = "dicomweb"\nurl = "https://u:p@h.example/x"', "url", "user name"),
        ('kind = "dicomweb"\nurl = "http://127.0.0.1/x"\nauth = "bearer"', "token", "exactly one"),
        (
            f'kind = "dicomweb"\nurl = "http://127.0.0.1/x"\nauth = "bearer"\ntoken = "{SECRET}"'
            '\ntoken_env = "X"',
            "token",
            "exactly one",
        ),
        (
            'kind = "dicomweb"\nurl = "http://127.0.0.1/x"\nauth = "bearer"\n'
            'token_env = "PG_SURELY_NOT_SET"',
            "token_env",
            "not set",
        ),
        (
            'kind = "dicomweb"\nurl = "http://127.0.0.1/x"\nauth = "bearer"\n'
            'token_file = "/nonexistent/token"',
            "token_file",
            "no such file",
        ),
        (
            'kind = "dicomweb"\nurl = "http://127.0.0.1/x"\nauth = "basic"\npassword = "x"',
            "username",
            "user name",
        ),
        (
            f'kind = "dicomweb"\nurl = "http://127.0.0.1/x"\nauth = "basic"\nusername = "a"\n'
            f'token = "{SECRET}"\npassword = "x"',
            "token",
            'only for auth = "bearer"',
        ),
        ('kind = "dicomweb"\nurl = "http://127.0.0.1/x"\nauth = "digest"', "auth", "one of"),
        ('kind = "dicomweb"\nurl = "http://127.0.0.1/x"\nmax_parts = 0', "max_parts", "positive"),
        ('kind = "smtp"', "kind", "one of"),
        ('url = "http://127.0.0.1/x"', "url", 'only for kind = "dicomweb"'),
    ],
)
def test_refused_with_the_file_and_the_key(
    tmp_path: Path, table: str, key: str, words: str
) -> None:
    path = tmp_path / "gateway.toml"
    path.write_text(f"[destinations.web]\n{table}\n")
    with pytest.raises(ConfigError) as err:
        load_config(path)
    message = str(err.value)
    assert message.startswith(str(path)), message
    assert f"[destinations.web] {key} " in message and words in message, message
    assert SECRET not in message


def test_https_with_a_ca_file_is_loaded_at_validation(tmp_path: Path) -> None:
    bad_ca = tmp_path / "ca.pem"
    bad_ca.write_text("not a certificate")
    with pytest.raises(ConfigError, match="tls_ca_file"):
        parse_config(
            {"destinations": {"web": {"kind": "dicomweb", "url": "https://h.example/x",
                                      "tls_ca_file": str(bad_ca)}}}
        )  # fmt: skip
    with pytest.raises(ConfigError, match="CA file is configured"):
        parse_config(
            {"destinations": {"web": {"kind": "dicomweb", "url": "http://127.0.0.1/x",
                                      "tls_ca_file": str(bad_ca)}}}
        )  # fmt: skip


def test_a_secret_of_the_wrong_type_is_not_echoed(tmp_path: Path) -> None:
    config = tmp_path / "secret.toml"
    config.write_text(
        '[destinations.web]\nkind = "dicomweb"\nurl = "http://127.0.0.1:8042/dicom-web"\n'
        'auth = "bearer"\ntoken = 918273645\n'
    )
    with pytest.raises(ConfigError) as raised:
        load_config(config)
    assert "token must be str, got int" in str(raised.value)
    assert "918273645" not in str(raised.value)
