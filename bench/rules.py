"""Sensor rule evaluation of 10,000 points × 3 rules, against a bare loop that only parses the
same readings, in the same run.

The stream: N points (default 10,000) on gateways of 100 points each; every point reports once a
second for S seconds (default 30), each gateway once a second as one JSON message
(``{"device", "ts", "values": {...}}``, the shape a PLC gateway publishes over MQTT); with
``--shape points`` each message is instead a list of ``{"point", "value", "ts"}`` objects, every
one with its own time string. Values wander around each point's set-point (noise 0.2 a second,
pulled back 5 % a second); every 10 s about 1 % of the points start or stop drifting by 0.8 a
second, so alarms are raised (rate at once, threshold after 10 s) and cleared.

Three rules per point (docs/sensors.md):

- ``threshold``: beyond set-point ± band sustained for 10 s (clears after 10 s normal);
- ``rate``: more than 6 units per minute over a 30 s window (both directions);
- ``silence``: no valid reading within 3 × 5 s.

Per second, interleaved (which side goes first alternates):

- **ours**: ``parse_batch`` (validation of every item, ``Reading`` tuples) + ``Engine.feed`` of
  every message, then one ``Engine.tick``;
- **bare**: ``json.loads`` of the same messages and the same tuples
  ``(point, float(value), datetime, quality)``, nothing checked, nothing evaluated.

It prints per-reading time of both, the ratio ours/bare and the goal of issue 9 (≤ 3). Saving the
state (``to_json``) is timed once at the end, separately. A benchmark reports; it always exits 0.

    .venv/bin/python bench/rules.py [--points 10000] [--seconds 60] [--shape both|device|points]

Both shapes run by default; the RESULT line reports the worse ratio.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import random
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

try:  # run from a checkout without installing the package
    import anlian  # noqa: F401
except ImportError:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from anlian.sensors.engine import Engine, load_rules, parse_batch, to_json

GOAL = 3.0
PER_DEVICE = 100
CST = timezone(timedelta(hours=8))
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=CST)


def make_rules(points: list[str], setpoints: dict[str, float]) -> tuple:
    docs = []
    for p in points:
        docs.append({"key": f"hot-{p.lower()}", "kind": "threshold", "point": p, "setpoint": setpoints[p],
                     "band": 5, "for": "10s", "level": 2, "actions": ["notify", {"freeze": {"point": p}}]})
        docs.append({"key": f"rate-{p.lower()}", "kind": "rate", "point": p, "per_minute": 6,
                     "window": "30s", "level": 1, "actions": ["notify"]})
        docs.append({"key": f"quiet-{p.lower()}", "kind": "silence", "point": p, "interval": "5s",
                     "misses": 3, "level": 1, "actions": ["notify"]})
    return load_rules(docs)


def make_stream(points: list[str], setpoints: dict[str, float], seconds: int, shape: str,
                seed: int = 9) -> list[list[bytes]]:
    """Per second, the messages of every gateway (JSON bytes)."""
    rnd = random.Random(seed)
    value = dict(setpoints)
    drift = {p: 0.0 for p in points}
    devices = [points[i:i + PER_DEVICE] for i in range(0, len(points), PER_DEVICE)]
    out = []
    for s in range(seconds):
        ts = (T0 + timedelta(seconds=s)).isoformat()
        for p in rnd.sample(points, max(1, len(points) // 100)) if s % 10 == 0 else ():
            drift[p] = rnd.choice((-0.8, 0.8, 0.0))  # some points wander off, some come back
        second = []
        for d, group in enumerate(devices):
            vals = {}
            for p in group:
                v = value[p] + drift[p] + rnd.gauss(0, 0.2)
                v += (setpoints[p] - v) * 0.05 if drift[p] == 0.0 else 0.0
                value[p] = v
                vals[p] = round(v, 2)
            if shape == "device":
                doc = {"device": f"gw-{d:03d}", "ts": ts, "values": vals}
            else:
                doc = [{"point": p, "value": v, "ts": ts} for p, v in vals.items()]
            second.append(json.dumps(doc, separators=(",", ":")).encode())
        out.append(second)
    return out


def bare(messages: list[bytes], shape: str) -> int:
    """The floor: decode and build the same tuples, nothing checked, nothing evaluated."""
    n = 0
    fromiso = datetime.fromisoformat
    for raw in messages:
        doc = json.loads(raw)
        if shape == "device":
            at = fromiso(doc["ts"])
            rows = [(p, float(v), at, "good") for p, v in doc["values"].items()]
        else:
            rows = [(i["point"], float(i["value"]), fromiso(i["ts"]), i.get("quality", "good")) for i in doc]
        n += len(rows)
    return n


def ours(engine: Engine, state: dict, messages: list[bytes], received: datetime) -> tuple[int, int]:
    n = raised = 0
    for raw in messages:
        batch = parse_batch(raw, received)
        n += len(batch)
        state, transitions = engine.feed(state, batch)
        raised += len(transitions)
    state, transitions = engine.tick(state, received)
    return n, raised + len(transitions)


def run(points_n: int, seconds: int, shape: str) -> float:
    points = [f"P{i:05d}" for i in range(points_n)]
    rnd = random.Random(1)
    setpoints = {p: float(rnd.choice((20, 35, 80, 120, 150))) for p in points}
    t = time.perf_counter()
    rules = make_rules(points, setpoints)
    engine = Engine(rules)
    state = engine.new_state()
    load_s = time.perf_counter() - t
    stream = make_stream(points, setpoints, seconds, shape)
    size = sum(len(m) for second in stream for m in second)

    gc.collect()
    gc.freeze()
    ours_t, bare_t, readings, transitions = [], [], 0, 0
    for s, messages in enumerate(stream):
        received = T0 + timedelta(seconds=s, milliseconds=300)
        order = ("ours", "bare") if s % 2 == 0 else ("bare", "ours")
        for side in order:
            t = time.perf_counter()
            if side == "ours":
                n, k = ours(engine, state, messages, received)
                ours_t.append(time.perf_counter() - t)
                readings += n
                transitions += k
            else:
                bare(messages, shape)
                bare_t.append(time.perf_counter() - t)
    gc.unfreeze()
    t = time.perf_counter()
    saved = to_json(state)
    save_s = time.perf_counter() - t

    ours_us = sum(ours_t) / (points_n * len(stream)) * 1e6
    bare_us = sum(bare_t) / (points_n * len(stream)) * 1e6
    ratio = sum(ours_t) / sum(bare_t)
    med = statistics.median(o / b for o, b in zip(ours_t, bare_t))
    print(f"-- shape {shape}: {points_n} points × 3 rules ({len(rules)} rules, loaded in {load_s:.2f} s), "
          f"{seconds} s of stream, {len(stream[0])} messages/s, {size / len(stream) / 1e6:.2f} MB/s of JSON")
    print(f"ours (parse_batch + feed + tick)   {ours_us:6.2f} µs/reading  {sum(ours_t) / len(stream) * 1e3:7.1f} ms "
          f"per stream second  ({readings} readings incl. heartbeats, {transitions} transitions)")
    print(f"bare (json.loads + tuples)         {bare_us:6.2f} µs/reading  {sum(bare_t) / len(stream) * 1e3:7.1f} ms "
          f"per stream second")
    print(f"ratio ours/bare: {ratio:.2f} (median of per-second ratios {med:.2f}; goal ≤ {GOAL:g}: "
          f"{'PASS' if ratio <= GOAL else 'FAIL'})")
    print(f"state: {len(saved) / 1e6:.1f} MB of JSON, to_json {save_s * 1e3:.0f} ms")
    return ratio


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--points", type=int, default=10_000)
    ap.add_argument("--seconds", type=int, default=60)
    ap.add_argument("--shape", choices=("device", "points", "both"), default="both")
    args = ap.parse_args(argv)
    print(f"python {platform.python_version()}, {platform.machine()}")
    shapes = ("points", "device") if args.shape == "both" else (args.shape,)
    ratios = {shape: run(args.points, args.seconds, shape) for shape in shapes}
    worst = max(ratios.values())
    print("ratios: " + ", ".join(f"{k} {v:.2f}" for k, v in ratios.items()) + f" — reported: the worst, {worst:.2f}")
    print(f"RESULT rules ratio={worst:.2f} goal={GOAL:g}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
