"""Great-circle distances: haversine (the oracle) and unit-vector chords (the index)."""

from __future__ import annotations

import math

import h3
import numpy as np
import oracle
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from geo_discovery.distance import (
    EARTH_RADIUS_M,
    chord2_to_m,
    haversine_m,
    latlng_to_xyz,
    m_to_chord2,
)

LAT = st.floats(-90, 90, allow_nan=False)
LNG = st.floats(-180, 180, allow_nan=False)
M_PER_RAD = EARTH_RADIUS_M


def chord_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    a, b = latlng_to_xyz(lat1, lng1), latlng_to_xyz(lat2, lng2)
    return float(chord2_to_m(((a - b) ** 2).sum()))


def test_earth_radius_is_h3s() -> None:
    # h3 reports distances on its authalic sphere; ours must be the same sphere.
    assert float(haversine_m(0, 0, 0, 90)) == pytest.approx(
        h3.great_circle_distance((0, 0), (0, 90), unit="m"), rel=1e-12
    )


@pytest.mark.parametrize(
    ("p", "q", "metres"),
    [
        ((0, 0), (0, 0), 0.0),
        ((0, 0), (1, 0), M_PER_RAD * math.radians(1)),  # along a meridian: exact
        ((0, 0), (0, 1), M_PER_RAD * math.radians(1)),  # along the equator
        ((0, 179.5), (0, -179.5), M_PER_RAD * math.radians(1)),  # across the antimeridian
        ((90, 0), (-90, 0), M_PER_RAD * math.pi),  # pole to pole
        ((0, 0), (0, 180), M_PER_RAD * math.pi),  # antipodes on the equator
        ((90, 0), (90, 123), 0.0),  # the pole is one point whatever the longitude
        ((45, -180), (45, 180), 0.0),  # so is lng -180 / 180
        ((90, 0), (0, 77), M_PER_RAD * math.pi / 2),
    ],
)
def test_known_distances(p: tuple, q: tuple, metres: float) -> None:
    assert float(haversine_m(*p, *q)) == pytest.approx(metres, rel=1e-12, abs=1e-6)
    assert chord_m(*p, *q) == pytest.approx(metres, rel=1e-12, abs=1e-6)


def test_known_city_pair_matches_h3() -> None:
    times_sq, empire = (40.7580, -73.9855), (40.7484, -73.9857)
    d = float(haversine_m(*times_sq, *empire))
    assert d == pytest.approx(h3.great_circle_distance(times_sq, empire, unit="m"), rel=1e-9)
    assert 1060 < d < 1075


@settings(max_examples=300, deadline=None)
@given(LAT, LNG, LAT, LNG)
def test_haversine_is_a_symmetric_metric_matching_h3(
    lat1: float, lng1: float, lat2: float, lng2: float
) -> None:
    d = float(haversine_m(lat1, lng1, lat2, lng2))
    assert d == float(haversine_m(lat2, lng2, lat1, lng1))
    assert 0.0 <= d <= math.pi * EARTH_RADIUS_M + 1e-6
    assert d == pytest.approx(
        h3.great_circle_distance((lat1, lng1), (lat2, lng2), unit="m"), rel=1e-9, abs=1e-3
    )


@settings(max_examples=300, deadline=None)
@given(LAT, LNG, LAT, LNG)
def test_chord_agrees_with_haversine_within_the_oracle_tolerance(
    lat1: float, lng1: float, lat2: float, lng2: float
) -> None:
    """1e-6 m everywhere except near the antipode, where oracle.slack_m widens it."""
    h = float(haversine_m(lat1, lng1, lat2, lng2))
    c = chord_m(lat1, lng1, lat2, lng2)
    assert abs(h - c) <= float(oracle.slack_m(np.array([h]))[0])


def test_near_the_antipode_the_two_formulas_disagree_beyond_1e6_m() -> None:
    """Why the oracle widens its tolerance there (and only there): both are ill-conditioned."""
    rng = np.random.default_rng(0)
    lat = np.degrees(np.arcsin(rng.uniform(-1, 1, 200_000)))
    lng = rng.uniform(-180, 180, 200_000)
    off = 10 ** rng.uniform(-6, -2, 200_000)
    lat2 = np.clip(-lat + rng.normal(0, 1, 200_000) * off, -90, 90)
    lng2 = (lng + 180 + rng.normal(0, 1, 200_000) * off + 180) % 360 - 180
    h = haversine_m(lat, lng, lat2, lng2)
    c = chord2_to_m(((latlng_to_xyz(lat, lng) - latlng_to_xyz(lat2, lng2)) ** 2).sum(axis=1))
    err = np.abs(h - c)
    assert err.max() > 1e-6  # the plain 1e-6 m would fail here …
    assert (err <= oracle.slack_m(h)).all()  # … the widened one holds
    far = h < oracle.HALF_CIRCUMFERENCE_M - oracle.ANTIPODE_ZONE_M
    assert not far.any() or err[far].max() <= 1e-6


def test_arrays_broadcast() -> None:
    lat = np.array([[0.0, 10.0], [20.0, 30.0]])
    d = haversine_m(lat, 0.0, 0.0, 0.0)
    assert d.shape == (2, 2)
    np.testing.assert_allclose(d, M_PER_RAD * np.radians(lat), rtol=1e-12)
    assert latlng_to_xyz(lat, 5.0).shape == (2, 2, 3)


@settings(max_examples=200, deadline=None)
@given(LAT, LNG)
def test_xyz_are_unit_vectors_in_the_right_place(lat: float, lng: float) -> None:
    v = latlng_to_xyz(lat, lng)
    assert float(np.linalg.norm(v)) == pytest.approx(1.0, abs=1e-15)
    assert math.degrees(math.asin(max(-1.0, min(1.0, v[2])))) == pytest.approx(lat, abs=1e-6)


def test_axes() -> None:
    np.testing.assert_allclose(latlng_to_xyz(0, 0), [1, 0, 0], atol=1e-16)
    np.testing.assert_allclose(latlng_to_xyz(0, 90), [0, 1, 0], atol=1e-16)
    np.testing.assert_allclose(latlng_to_xyz(90, 0), [0, 0, 1], atol=1e-16)
    np.testing.assert_allclose(latlng_to_xyz(-90, 45), [0, 0, -1], atol=1e-16)


@settings(max_examples=300, deadline=None)
@given(st.floats(0, math.pi * EARTH_RADIUS_M))
def test_metres_and_squared_chords_invert_each_other(metres: float) -> None:
    c2 = float(m_to_chord2(metres))
    assert 0.0 <= c2 <= 4.0 + 1e-12
    # Precision of the round trip follows the conditioning of asin near the antipode.
    tol = 1e-6 + float(oracle.slack_m(np.array([metres]))[0])
    assert float(chord2_to_m(c2)) == pytest.approx(metres, abs=tol)


@settings(max_examples=300, deadline=None)
@given(st.floats(0, math.pi * EARTH_RADIUS_M * 0.999), st.floats(0.25, 4.0))
def test_a_radius_holds_exactly_the_chords_whose_metres_are_within_it(
    metres: float, scale: float
) -> None:
    """``c2 <= m_to_chord2(r)`` exactly when ``chord2_to_m(c2) <= r``: a radius equal to a
    reported distance holds that merchant (the closed form missed it for ~1/4 of radii,
    a library user's sweep)."""
    c2 = float(m_to_chord2(metres))
    assert float(chord2_to_m(c2)) <= metres
    assert float(chord2_to_m(np.nextafter(c2, 4.0))) > metres
    chord = min(c2 * scale, 3.999)  # any chord: its reported metres are its own radius
    assert chord <= float(m_to_chord2(float(chord2_to_m(chord))))


def test_conversions_are_monotone_and_clipped() -> None:
    metres = np.linspace(0, math.pi * EARTH_RADIUS_M, 10_001)
    c2 = m_to_chord2(metres)
    assert (np.diff(c2) >= 0).all()
    assert (np.diff(chord2_to_m(c2)) >= 0).all()
    assert float(chord2_to_m(-1e-18)) == 0.0
    assert float(chord2_to_m(4.5)) == pytest.approx(math.pi * EARTH_RADIUS_M)
    assert float(m_to_chord2(-5.0)) == 0.0
    assert float(m_to_chord2(1e9)) == pytest.approx(4.0)


def test_chord_arithmetic_is_the_same_whatever_the_batch() -> None:
    """Tie-breaking relies on each candidate's squared chord not depending on its batch."""
    rng = np.random.default_rng(1)
    lat, lng = oracle.random_points("city", 5000, rng, centre=(40.7, -74.0), spread_deg=0.01)
    xyz = latlng_to_xyz(lat, lng)
    q = latlng_to_xyz(40.7, -74.0)
    whole = ((xyz - q) ** 2).sum(axis=1)
    for idx in (np.arange(0, 5000, 7), rng.permutation(5000)[:333], np.array([17])):
        np.testing.assert_array_equal(((xyz[idx] - q) ** 2).sum(axis=1), whole[idx])
