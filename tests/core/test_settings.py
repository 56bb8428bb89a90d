"""Settings from the environment: an optional setting can be turned off there too."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from geo_discovery.settings import Settings


@pytest.mark.parametrize("text", ["none", "None", "NULL", "", " none "])
def test_an_optional_setting_is_turned_off_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    """``wom_prior_area_resolution`` defaults to 7 and its docs said "unset: no area
    level", but the environment could not unset it: every value was "not a valid
    integer", and every command exited 1."""
    monkeypatch.setenv("GEO_DISCOVERY_WOM_PRIOR_AREA_RESOLUTION", text)
    monkeypatch.setenv("GEO_DISCOVERY_WOM_AS_OF", text)
    monkeypatch.setenv("GEO_DISCOVERY_INDEX_RESOLUTION", text)
    settings = Settings()
    assert settings.wom_prior_area_resolution is None
    assert settings.wom_as_of is None and settings.index_resolution is None


def test_other_text_is_still_refused_with_the_setting_named(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GEO_DISCOVERY_WOM_PRIOR_AREA_RESOLUTION", "off")
    with pytest.raises(ValidationError, match="wom_prior_area_resolution"):
        Settings()
    monkeypatch.setenv("GEO_DISCOVERY_WOM_PRIOR_AREA_RESOLUTION", "9")
    assert Settings().wom_prior_area_resolution == 9


@pytest.mark.parametrize("text", ["none", "NULL", ""])
def test_a_secret_set_to_none_is_no_secret(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    """``GEO_DISCOVERY_API_ADMIN_KEY=none`` turned the admin endpoints on with the key
    "none", which anyone can guess, while other settings read none as off."""
    monkeypatch.setenv("GEO_DISCOVERY_API_ADMIN_KEY", text)
    monkeypatch.setenv("GEO_DISCOVERY_CURSOR_SECRET", text)
    settings = Settings()
    assert settings.api_admin_key is None and settings.cursor_secret is None
