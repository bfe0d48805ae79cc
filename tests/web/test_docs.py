"""docs/API.md documents every route of the app."""

from __future__ import annotations

from pathlib import Path

from fleet_web import create_app

DOC = Path(__file__).resolve().parents[2] / "docs" / "API.md"


def test_every_route_is_documented(tmp_path: Path) -> None:
    from gateway.store import open_store

    text = DOC.read_text()
    app = create_app({"SECRET_KEY": "docs"}, store=open_store(str(tmp_path / "k.db")))
    missing = [
        f"{m} {rule.rule}"
        for rule in app.url_map.iter_rules()
        for m in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"})
        if f"`{m} {rule.rule}`" not in text
    ]
    assert not missing, f"undocumented in docs/API.md: {missing}"


def test_create_app_signature_is_documented() -> None:
    assert "create_app(config: dict | None = None, store=None, outlook=None)" in DOC.read_text()


def test_create_app_without_a_store_is_an_error() -> None:
    import pytest

    with pytest.raises(TypeError, match="store"):
        create_app({"SECRET_KEY": "docs"})
