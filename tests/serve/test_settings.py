"""ServeSettings: a checked, typed record; a wrong value is refused when the
settings are made, naming the setting, not when a request meets it."""

from __future__ import annotations

import dataclasses

import pytest

from skemotion.preprocessing import DETECTORS
from skemotion.serve import ServeSettings


def test_defaults_and_types():
    settings = ServeSettings()
    assert dataclasses.is_dataclass(settings)
    for field in dataclasses.fields(settings):
        assert field.kw_only  # every setting by name
    assert settings.max_request_bytes == 10_000_000
    assert settings.cors_origins == () and settings.token is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.max_files = 100  # a running server's settings stay as they were


def test_origins_become_a_tuple_and_one_origin_is_not_its_letters():
    assert ServeSettings(cors_origins=["http://a", "http://b"]).cors_origins == (
        "http://a",
        "http://b",
    )
    assert ServeSettings(cors_origins="http://a").cors_origins == ("http://a",)


@pytest.mark.parametrize(
    ("given", "error", "said"),
    [
        ({"max_files": 0}, ValueError, "max_files must be at least 1, got 0"),
        ({"max_request_bytes": -5}, ValueError, "max_request_bytes must be at least 1"),
        ({"batch_size": 2.5}, TypeError, "batch_size must be a whole number"),
        ({"top_k": True}, TypeError, "top_k must be a whole number"),
        ({"face_threads": 0}, ValueError, "face_threads must be at least 1"),
        ({"body_timeout": "3"}, TypeError, "body_timeout must be a number of seconds"),
        ({"header_timeout": 0}, ValueError, "header_timeout must be a number of"),
        ({"shutdown_timeout": float("inf")}, ValueError, "shutdown_timeout must be"),
        ({"max_drain_bytes": -1}, ValueError, "max_drain_bytes must be 0 or more"),
        ({"detector": "eyes"}, ValueError, "detector must be one of"),
        ({"token": ""}, ValueError, "token must be a non-empty string"),
        ({"cors_origins": [None]}, TypeError, "cors_origins must be origins"),
    ],
)
def test_wrong_values_are_refused_by_name(given, error, said):
    with pytest.raises(error, match=said):
        ServeSettings(**given)


def test_every_detector_and_none_are_taken():
    for name in (*DETECTORS, None):
        assert ServeSettings(detector=name).detector == name
    assert ServeSettings(face_threads=None, max_drain_bytes=0).max_drain_bytes == 0


def test_the_token_is_not_shown():
    shown = repr(ServeSettings(token="s3cret-token"))
    assert "s3cret" not in shown and shown.startswith("ServeSettings(")
