"""Geofence arithmetic (orgs.geo) and Area.contains."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from anlian.orgs import geo
from anlian.orgs.models import Area

R = geo.EARTH_RADIUS_M
M_PER_DEG_LAT = math.pi * R / 180  # one degree along a meridian, on the same sphere


def destination(lat: float, lng: float, bearing_deg: float, distance: float) -> tuple[float, float]:
    """The point `distance` metres from (lat, lng) on a great circle at `bearing` (standard formula)."""
    p1, l1, b, d = math.radians(lat), math.radians(lng), math.radians(bearing_deg), distance / R
    p2 = math.asin(math.sin(p1) * math.cos(d) + math.cos(p1) * math.sin(d) * math.cos(b))
    l2 = l1 + math.atan2(math.sin(b) * math.sin(d) * math.cos(p1), math.cos(d) - math.sin(p1) * math.sin(p2))
    return math.degrees(p2), math.degrees(l2)


def cosine_law_m(lat1, lng1, lat2, lng2) -> float:
    """An independent formula (spherical law of cosines) for the same great-circle distance."""
    p1, p2, dl = math.radians(lat1), math.radians(lat2), math.radians(lng2 - lng1)
    c = math.sin(p1) * math.sin(p2) + math.cos(p1) * math.cos(p2) * math.cos(dl)
    return R * math.acos(max(-1.0, min(1.0, c)))


# --- distance --------------------------------------------------------------------------------------


def test_one_kilometre_north_along_a_meridian():
    lat2 = 30.0 + 1000 / M_PER_DEG_LAT
    assert geo.distance_m(30.0, 120.0, lat2, 120.0) == pytest.approx(1000.0, abs=1e-6)


def test_one_degree_of_longitude_on_the_equator():
    assert geo.distance_m(0, 0, 0, 1) == pytest.approx(111_195.08, abs=0.01)
    assert geo.distance_m(0, 179.5, 0, -179.5) == pytest.approx(111_195.08, abs=0.01)  # across the date line


@pytest.mark.parametrize("a, b", [
    ((29.9380, 121.8870), (29.9392, 121.8905)),    # two berths of the demo port
    ((31.2304, 121.4737), (39.9042, 116.4074)),    # Shanghai → Beijing, ~1068 km
    ((-33.8688, 151.2093), (51.5074, -0.1278)),    # Sydney → London, ~17000 km
])
def test_distance_matches_an_independent_formula(a, b):
    expected = cosine_law_m(*a, *b)
    assert geo.distance_m(*a, *b) == pytest.approx(expected, rel=1e-6)
    assert geo.distance_m(*b, *a) == pytest.approx(expected, rel=1e-6)


def test_shanghai_beijing_is_about_1068_km():
    assert geo.distance_m(31.2304, 121.4737, 39.9042, 116.4074) == pytest.approx(1_067_000, rel=0.005)


def test_distance_edge_cases():
    assert geo.distance_m(30, 120, 30, 120) == 0.0
    assert geo.distance_m(90, 0, -90, 0) == pytest.approx(math.pi * R)  # antipodes: no math domain error
    assert geo.distance_m(0, 0, 0, 180) == pytest.approx(math.pi * R)


# --- polygons --------------------------------------------------------------------------------------

# A square of roughly 100 m × 100 m around (30.0, 120.0).
D = 0.0005
SQUARE = [[30.0 - D, 120.0 - D], [30.0 - D, 120.0 + D], [30.0 + D, 120.0 + D], [30.0 + D, 120.0 - D]]
# A "U": the notch at the top middle is outside although it lies within the bounding box.
U_SHAPE = [[0, 0], [0, 3], [3, 3], [3, 2], [1, 2], [1, 1], [3, 1], [3, 0]]


def test_in_polygon_inside_and_outside():
    assert geo.in_polygon(30.0, 120.0, SQUARE)
    assert geo.in_polygon(30.0 + D * 0.99, 120.0 - D * 0.99, SQUARE)
    assert not geo.in_polygon(30.0 + D * 1.01, 120.0, SQUARE)
    assert not geo.in_polygon(30.0, 120.0 + D * 1.5, SQUARE)
    assert not geo.in_polygon(31.0, 121.0, SQUARE)
    # the vertex order (clockwise or not) does not matter
    assert geo.in_polygon(30.0, 120.0, list(reversed(SQUARE)))


def test_in_polygon_concave():
    assert geo.in_polygon(0.5, 1.5, U_SHAPE)      # the base of the U
    assert geo.in_polygon(2.0, 0.5, U_SHAPE)      # left arm
    assert geo.in_polygon(2.0, 2.5, U_SHAPE)      # right arm
    assert not geo.in_polygon(2.0, 1.5, U_SHAPE)  # in the notch
    assert not geo.in_polygon(2.5, 1.5, U_SHAPE)
    assert not geo.in_polygon(4.0, 1.5, U_SHAPE)
    assert not geo.in_polygon(-1.0, 1.5, U_SHAPE)


def test_distance_to_polygon():
    assert geo.distance_to_polygon_m(30.0, 120.0, SQUARE) == 0.0
    # 100 m east of the east edge, on its middle
    east_edge_lng = 120.0 + D
    lat, lng = destination(30.0, east_edge_lng, 90, 100)
    assert geo.distance_to_polygon_m(lat, lng, SQUARE) == pytest.approx(100.0, rel=0.01)
    # 50 m north of the north edge
    lat, lng = 30.0 + D + 50 / M_PER_DEG_LAT, 120.0
    assert geo.distance_to_polygon_m(lat, lng, SQUARE) == pytest.approx(50.0, rel=0.01)
    # diagonally off a corner: the distance to the corner itself
    corner = SQUARE[2]
    lat, lng = destination(corner[0], corner[1], 45, 70)
    assert geo.distance_to_polygon_m(lat, lng, SQUARE) == pytest.approx(70.0, rel=0.01)
    # in the notch of the U, the nearest edges are the arms' inner sides
    notch = geo.distance_to_polygon_m(2.0, 1.5, U_SHAPE)
    assert notch == pytest.approx(0.5 * M_PER_DEG_LAT * math.cos(math.radians(2.0)), rel=0.01)


# --- validation ------------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [
    None, "[[1,2],[3,4],[5,6]]", {"a": 1}, [], [[30, 120], [30.1, 120]],          # not a list / too few
    [[30, 120]] * 501,                                                            # too many
    [[30, 120], [30.1, 120], [True, 120.1]], [[30, 120], [30.1, 120], [30, False]],  # bools
    [[30, 120], [30.1, 120], ["30", "120"]], [[30, 120], [30.1, 120], [None, 1]],   # strings, null
    [[30, 120], [30.1, 120], [91, 120]], [[30, 120], [30.1, 120], [30, -180.5]],    # out of range
    [[30, 120], [30.1, 120], [float("nan"), 120]],
    [[30, 120], [30.1, 120], [30, 120, 5]], [[30, 120], [30.1, 120], 30],           # malformed points
])
def test_validate_polygon_rejects(bad):
    with pytest.raises(ValueError):
        geo.validate_polygon(bad)


def test_validate_polygon_normalises():
    assert geo.validate_polygon([(30, 120), [30.1, 120], [30, 120.5]]) == [[30.0, 120.0], [30.1, 120.0], [30.0, 120.5]]
    assert geo.validate_polygon([[-90, -180], [90, 180], [0, 0]]) == [[-90.0, -180.0], [90.0, 180.0], [0.0, 0.0]]


def test_validate_lat_lng():
    geo.validate_lat_lng(0, 0)
    for lat, lng in [(90.1, 0), (-90.1, 0), (0, 180.1), (0, -181), (float("nan"), 0), (0, float("nan"))]:
        with pytest.raises(ValueError):
            geo.validate_lat_lng(lat, lng)


# --- Area.contains ---------------------------------------------------------------------------------


def test_area_circle_fence():
    area = Area(name="罐区", center_lat=30.0, center_lng=120.0, radius_m=100)
    assert area.contains(30.0, 120.0) is True
    assert area.contains(*destination(30.0, 120.0, 10, 99)) is True
    outside = destination(30.0, 120.0, 200, 110)
    assert area.contains(*outside) is False
    assert area.contains(*outside, tolerance_m=15) is True  # GPS tolerance widens the fence
    assert area.contains(*outside, tolerance_m=5) is False


def test_area_polygon_fence_wins_over_the_circle():
    area = Area(name="厂房", polygon=SQUARE, center_lat=31.0, center_lng=121.0, radius_m=50_000)
    assert area.contains(30.0, 120.0) is True
    assert area.contains(31.0, 121.0) is False  # the circle is only a hint
    near = destination(30.0, 120.0 + D, 90, 20)  # 20 m east of the east edge
    assert area.contains(*near) is False
    assert area.contains(*near, tolerance_m=25) is True
    assert area.contains(*near, tolerance_m=15) is False


def test_area_without_a_fence():
    assert Area(name="无围栏").contains(30.0, 120.0) is None
    assert Area(name="只有中心", center_lat=30.0, center_lng=120.0).contains(30.0, 120.0) is None
    assert Area(name="空多边形", polygon=[]).contains(30.0, 120.0) is None


@settings(max_examples=300, deadline=None)
@given(
    lat=st.floats(min_value=-70, max_value=70),
    lng=st.floats(min_value=-180, max_value=180),
    radius=st.integers(min_value=1, max_value=50_000),
    bearing=st.floats(min_value=0, max_value=360),
    fraction=st.floats(min_value=0, max_value=0.999),
)
def test_any_point_within_the_radius_is_inside_the_circle(lat, lng, radius, bearing, fraction):
    area = Area(name="p", center_lat=lat, center_lng=lng, radius_m=radius)
    plat, plng = destination(lat, lng, bearing, radius * fraction)
    plng = (plng + 180) % 360 - 180  # keep longitudes in range across the date line
    assert area.contains(plat, plng) is True
    # and the distance the fence uses agrees with the construction
    assert geo.distance_m(lat, lng, plat, plng) == pytest.approx(radius * fraction, abs=1e-3)
