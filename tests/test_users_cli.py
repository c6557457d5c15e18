"""``sitewatch users ...`` against a SQLite state store in a temp dir: add, set a password
from standard input (never echoed), disable, list; refusals exit 1 with the reason."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from gateway.clock import SystemClock
from gateway.people import People
from gateway.store import make_engine
from sitewatch.cli import main


def test_users_commands(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path}/state.db"
    monkeypatch.setenv("SITEWATCH_DB_URL", url)
    assert main(["users", "add", "opa", "--role", "operator,viewer", "--name", "Olga O"]) == 0
    assert "added opa (Olga O): viewer,operator" in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("a-long-password\n"))
    assert main(["users", "set-password", "opa"]) == 0
    out, err = capsys.readouterr()
    assert "a-long-password" not in out + err
    monkeypatch.setattr("sys.stdin", io.StringIO("short\n"))
    assert main(["users", "set-password", "opa"]) == 1
    assert "at least 8 characters" in capsys.readouterr().err
    assert main(["users", "add", "opa", "--role", "operator"]) == 1
    assert "exists" in capsys.readouterr().err
    assert main(["users", "disable", "hvac-liu"]) == 0  # a crew member of the site file
    assert main(["users", "list"]) == 0
    listing = capsys.readouterr().out
    assert "opa" in listing and "hvac-liu" in listing and "disabled" in listing

    people = People(make_engine(url), SystemClock())
    assert people.login.authenticate("opa", "a-long-password", None).ok
    assert people.users.get("hvac-liu").active is False
