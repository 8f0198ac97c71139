"""Geofence arithmetic on WGS-84 coordinates; plain functions, no Django.

Distances use the haversine formula; at plant scale (a few km) its error is far below GPS error.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

EARTH_RADIUS_M = 6_371_008.8

Point = Sequence[float]


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


def in_polygon(lat: float, lng: float, polygon: Sequence[Point]) -> bool:
    """Ray casting in the lat/lng plane (fine for fences far smaller than a continent)."""
    inside = False
    n = len(polygon)
    for i in range(n):
        (y1, x1), (y2, x2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > lat) != (y2 > lat):
            x_cross = x1 + (lat - y1) * (x2 - x1) / (y2 - y1)
            if lng < x_cross:
                inside = not inside
    return inside


def distance_to_polygon_m(lat: float, lng: float, polygon: Sequence[Point]) -> float:
    """Distance to the nearest edge, in metres (0 inside)."""
    if in_polygon(lat, lng, polygon):
        return 0.0
    # Project onto a local flat plane around the point: metres per degree at this latitude.
    ky = math.pi * EARTH_RADIUS_M / 180
    kx = ky * math.cos(math.radians(lat))
    pts = [((p[1] - lng) * kx, (p[0] - lat) * ky) for p in polygon]
    best = math.inf
    for i in range(len(pts)):
        (x1, y1), (x2, y2) = pts[i], pts[(i + 1) % len(pts)]
        dx, dy = x2 - x1, y2 - y1
        seg = dx * dx + dy * dy
        t = 0.0 if seg == 0 else max(0.0, min(1.0, -(x1 * dx + y1 * dy) / seg))
        best = min(best, math.hypot(x1 + t * dx, y1 + t * dy))
    return best


def validate_polygon(value: object) -> list[list[float]]:
    """Return the polygon as [[lat, lng], ...] or raise ValueError with a reason."""
    if not isinstance(value, list) or not 3 <= len(value) <= 500:
        raise ValueError("polygon must be a list of 3 to 500 [lat, lng] points")
    points = []
    for point in value:
        if not (isinstance(point, list | tuple) and len(point) == 2):
            raise ValueError("each polygon point must be [lat, lng]")
        lat, lng = point
        if isinstance(lat, bool) or isinstance(lng, bool) or not all(isinstance(v, int | float) for v in (lat, lng)):
            raise ValueError("polygon coordinates must be numbers")
        validate_lat_lng(float(lat), float(lng))
        points.append([float(lat), float(lng)])
    return points


def validate_lat_lng(lat: float, lng: float) -> None:
    if not (-90 <= lat <= 90 and -180 <= lng <= 180) or math.isnan(lat) or math.isnan(lng):
        raise ValueError("latitude must be within ±90 and longitude within ±180")
