"""The backup helper keeps the database password off the command line."""

from __future__ import annotations

from orchestra.backups import split_password


def test_password_is_split_out_of_the_url() -> None:
    url, password = split_password("postgresql://aura:s%40cret@db:5432/aura?sslmode=require")
    assert password == "s@cret"
    assert url == "postgresql://aura@db:5432/aura?sslmode=require"
    assert "cret" not in url


def test_url_without_password_is_unchanged() -> None:
    url = "postgresql://aura@db/aura"
    assert split_password(url) == (url, None)
