"""The CLI's way to a running gateway (admin/remote.py): which address it asks, which token it
sends, and what it refuses before asking anything."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
import yaml

from ocpi_gateway.admin.remote import TOKEN_ENV, URL_ENV, RemoteError, api_url, operator_token
from ocpi_gateway.cli import main

ROLES = [{"country_code": "NL", "party_id": "EXA", "business_details": {"name": "CPO"}}]


def _args(tmp_path: Path, listen: dict[str, object], **given: object) -> argparse.Namespace:
    config = tmp_path / "gateway.yaml"
    config.write_text(yaml.safe_dump({"cpo_roles": ROLES, "listen": listen}), encoding="utf-8")
    return argparse.Namespace(config=str(config), **given)


@pytest.mark.parametrize(("listen", "url"), [
    ({"host": "0.0.0.0", "port": 8081}, "http://127.0.0.1:8081"),
    ({"host": "::", "port": 8082}, "http://127.0.0.1:8082"),
    ({"host": "::1", "port": 8083}, "http://[::1]:8083"),
    ({"host": "10.0.0.5", "port": 443, "tls_cert_file": "c.pem", "tls_key_file": "k.pem"},
     "https://10.0.0.5:443"),
])
def test_the_address_comes_from_listen(tmp_path: Path, listen: dict[str, object],
                                       url: str) -> None:
    assert api_url(_args(tmp_path, listen), environ={}) == url


def test_the_flag_then_the_variable_win_over_listen(tmp_path: Path) -> None:
    args = _args(tmp_path, {"port": 8081}, api_url="http://gw-b:8080/")
    assert api_url(args, environ={URL_ENV: "http://gw-c:8080"}) == "http://gw-b:8080"
    args.api_url = None
    assert api_url(args, environ={URL_ENV: "http://gw-c:8080"}) == "http://gw-c:8080"


def test_the_token_from_a_file_or_the_variable(tmp_path: Path) -> None:
    kept = tmp_path / "token"
    kept.write_text("ogt_from_file\n", encoding="utf-8")
    assert operator_token(argparse.Namespace(token_file=kept),
                          environ={TOKEN_ENV: "ogt_env"}) == "ogt_from_file"
    assert operator_token(argparse.Namespace(token_file=None),
                          environ={TOKEN_ENV: " ogt_env "}) == "ogt_env"
    kept.write_text("\n", encoding="utf-8")
    for args, environ in ((argparse.Namespace(token_file=kept), {}),
                          (argparse.Namespace(token_file=tmp_path / "absent"), {}),
                          (argparse.Namespace(token_file=None), {TOKEN_ENV: ""})):
        with pytest.raises(RemoteError) as refused:
            operator_token(args, environ=environ)
        assert refused.value.code == 2


def test_a_note_too_long_is_refused_before_asking(capsys: pytest.CaptureFixture[str],
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TOKEN_ENV, "ogt_x")
    # Port 9 (discard) would answer "no admin API": exit 2 says nothing was asked.
    assert main(["reservations", "cancel", "DE-EMS", "R1", "--note", "x" * 201,
                 "--api-url", "http://127.0.0.1:9"]) == 2
    assert capsys.readouterr().err.startswith("--note: String should have at most 200")
