"""AI pre-review (issue 4 point 6): the rule reviewer on real photos with EXIF, and the vision reviewer
against a local HTTP server that implements the Chat Completions shape and checks every request."""

from __future__ import annotations

import base64
import io
import json
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from PIL import Image

from anlian.trust import review
from anlian.trust.review import (
    CONCERN,
    NOT_REVIEWED,
    PASS,
    Photo,
    ReviewRequest,
    Reviewer,
    RuleReviewer,
    Verdict,
    VisionReviewer,
    review_all,
)

SITE = (31.2304, 121.4737)  # where the form says the work is
INSTRUCTION = "开关须可见挂锁和危险标签"
KEY = "sk-test-123"
MODEL = "qwen-vl-max"


def dms(value: float) -> tuple[float, float, float]:
    value = abs(value)
    d = int(value)
    m = int((value - d) * 60)
    return float(d), float(m), round((value - d - m / 60) * 3600, 4)


def photo(taken: str | None = None, *, at: tuple[float, float] | None = None, size=(640, 480),
          fmt="JPEG", offset: str | None = None, color="gray") -> bytes:
    """A real image with EXIF capture time ("YYYY:MM:DD HH:MM:SS") and GPS position, when given."""
    image = Image.new("RGB", size, color)
    for x in range(0, size[0], 40):  # some structure, so it is not a flat field
        image.paste((x % 255, 80, 160), (x, 0, x + 20, size[1]))
    exif = Image.Exif()
    if taken:
        exif[0x8769] = {0x9003: taken, **({0x9011: offset} if offset else {})}
    if at:
        exif[0x8825] = {1: "N" if at[0] >= 0 else "S", 2: dms(at[0]), 3: "E" if at[1] >= 0 else "W", 4: dms(at[1])}
    out = io.BytesIO()
    image.save(out, fmt, exif=exif)
    return out.getvalue()


def request(*photos: bytes | Photo, form=None, instruction=INSTRUCTION, facts=None) -> ReviewRequest:
    return ReviewRequest(step="隔离能量源", instruction=instruction, form=form or {}, facts=facts or {},
                         photos=[p if isinstance(p, Photo) else (p, "image/jpeg", {}) for p in photos])


WINDOW = {"计划开始时间": "2025-06-01T08:00", "计划结束时间": "2025-06-01T17:00"}


# -- data and metadata -------------------------------------------------------------------
def test_tuples_become_photos_and_exif_is_read():
    req = request(photo("2025:06:01 09:30:00", at=SITE))
    assert isinstance(req.photos[0], Photo) and req.photos[0].content_type == "image/jpeg"
    meta = review.photo_metadata(req.photos[0])
    assert meta["taken_at"].isoformat() == "2025-06-01T09:30:00+08:00"  # no offset in EXIF: the site's zone
    assert meta["lat"] == pytest.approx(SITE[0], abs=1e-6) and meta["lng"] == pytest.approx(SITE[1], abs=1e-6)


def test_exif_offset_and_caller_metadata_win():
    meta = review.photo_metadata(Photo(photo("2025:06:01 09:30:00", offset="+00:00"), "image/jpeg", {}))
    assert meta["taken_at"].isoformat() == "2025-06-01T09:30:00+00:00"
    given = Photo(photo("2025:06:01 09:30:00", at=SITE), "image/jpeg",
                  {"taken_at": "2025-06-01T10:00:00+08:00", "lat": 30.0, "lng": 120.0, "device_time": "2025-06-01T10:01"})
    meta = review.photo_metadata(given)
    assert meta["taken_at"].hour == 10 and (meta["lat"], meta["lng"]) == (30.0, 120.0)
    assert meta["device_time"].isoformat() == "2025-06-01T10:01:00+08:00"


def test_garbage_and_missing_exif_are_no_evidence():
    assert review.exif_metadata(b"not an image") == {}
    assert review.exif_metadata(photo()) == {}


@pytest.mark.parametrize("value, expected", [
    ("31.2304, 121.4737", (31.2304, 121.4737)), ("31.2304，121.4737", (31.2304, 121.4737)),
    ([31.2, 121.4], (31.2, 121.4)), ({"lat": 1, "lng": 2}, (1.0, 2.0)),
    ("上海", None), ("91, 10", None), (None, None), ("nan, 1", None)])
def test_as_point(value, expected):
    assert review.as_point(value) == expected


def test_verdict_protocol_and_dict():
    assert isinstance(RuleReviewer(), Reviewer) and isinstance(VisionReviewer(), Reviewer)
    verdict = Verdict(CONCERN, "原因", "rules", {"a": 1})
    assert verdict.is_reminder and not Verdict(PASS, "", "rules").is_reminder
    assert json.loads(json.dumps(verdict.as_dict())) == {"status": "concern", "reason": "原因", "reviewer": "rules",
                                                          "details": {"a": 1}}


# -- rules -------------------------------------------------------------------------------
def test_rules_pass_when_everything_agrees():
    form = {**WINDOW, "作业时段": "白天", "作业地点坐标": f"{SITE[0]},{SITE[1]}"}
    verdict = RuleReviewer().review(request(photo("2025:06:01 10:15:00", at=(31.2310, 121.4740)), form=form))
    assert verdict.status == PASS and verdict.reviewer == "rules"
    assert verdict.details["checked"] == ["window", "daylight", "place"] and verdict.details["issues"] == []
    json.dumps(verdict.as_dict())  # storable as is


def test_window_before_start_and_after_end():
    early, fine, late = photo("2025:05:30 08:00:00"), photo("2025:06:01 07:45:00"), photo("2025:06:01 18:10:00")
    verdict = RuleReviewer().review(request(early, fine, late, form=WINDOW))
    assert verdict.status == CONCERN
    assert [(i["rule"], i["photo"]) for i in verdict.details["issues"]] == [("window", 1), ("window", 3)]
    assert "第1张照片拍摄于2025-05-30 08:00，早于表单填写的计划开始时间2025-06-01 08:00" in verdict.reason
    assert "第3张照片拍摄于2025-06-01 18:10，晚于表单填写的计划结束时间2025-06-01 17:00" in verdict.reason


def test_window_uses_device_time_without_exif_and_facts_over_labels():
    no_exif = Photo(photo(), "image/jpeg", {"device_time": datetime(2025, 6, 2, 9, 0)})
    verdict = RuleReviewer().review(request(no_exif, form=WINDOW))
    assert verdict.status == CONCERN and verdict.details["issues"][0]["source"] == "device"
    facts = {"start": "2025-06-02T08:00", "end": "2025-06-02T12:00"}
    assert RuleReviewer().review(request(no_exif, form=WINDOW, facts=facts)).status == PASS


def test_night_photo_for_day_work_and_day_photo_for_night_work():
    night = photo("2025:06:01 23:10:00")
    verdict = RuleReviewer().review(request(photo("2025:06:01 10:00:00"), night, form={"作业时段": "白天"}))
    assert verdict.status == CONCERN and [i["photo"] for i in verdict.details["issues"]] == [2]
    assert verdict.reason == "表单填写为白天作业，但第2张照片拍摄于2025-06-01 23:10（夜间）"
    verdict = RuleReviewer().review(request(photo("2025:06:01 12:00:00"), form={"作业班次": "夜班"}))
    assert verdict.status == CONCERN and "白天" in verdict.reason
    dusk = photo("2025:06:01 18:30:00")  # between day and night: never a contradiction
    assert RuleReviewer().review(request(dusk, form={"作业时段": "白天"})).status == PASS
    assert RuleReviewer().review(request(dusk, form={"作业时段": "夜间"})).status == PASS


def test_night_hour_is_the_site_hour_even_for_an_utc_camera():
    utc = photo("2025:06:01 15:30:00", offset="+00:00")  # 23:30 in Shanghai
    verdict = RuleReviewer().review(request(utc, form={"作业时段": "白天"}))
    assert verdict.status == CONCERN and "23:30" in verdict.reason


def test_photo_far_from_the_named_place():
    near, far = photo(at=(31.2310, 121.4740)), photo(at=(31.3304, 121.4737))  # ~70 m and ~11 km
    verdict = RuleReviewer().review(request(near, far, form={"作业地点坐标": [SITE[0], SITE[1]]}))
    assert verdict.status == CONCERN and [i["photo"] for i in verdict.details["issues"]] == [2]
    issue = verdict.details["issues"][0]
    assert 11_000 < issue["distance_m"] < 11_300
    assert verdict.reason.startswith("第2张照片的拍摄位置距表单填写的作业地点坐标约11")
    # a place in words is no coordinate: nothing to compare
    verdict = RuleReviewer().review(request(far, form={"作业地点坐标": "三号罐区"}))
    assert verdict.status == NOT_REVIEWED


def test_reading_hook():
    seen = {}
    photos = [photo(color="white"), photo(color="black")]

    def reader(data: bytes):
        seen[data] = True
        return [0.0] if data == photos[0] else None

    form = {"验电读数": 0, "残余压力读数": "0.3", "作业内容": "检修"}
    verdict = RuleReviewer(read_meter=reader).review(request(*photos, form=form, instruction="照片须显示仪表读数"))
    assert len(seen) == 2 and verdict.status == CONCERN
    assert verdict.details["checked"] == ["reading"]
    assert verdict.reason == "表单填写的残余压力读数为0.3，照片中的读数为0，不一致"
    # not a reading slot, no reader, or nothing read: the rule stays silent
    assert RuleReviewer(read_meter=reader).review(request(*photos, form=form)).status == NOT_REVIEWED
    assert RuleReviewer().review(request(*photos, form=form, instruction="仪表读数")).status == NOT_REVIEWED
    assert RuleReviewer(read_meter=lambda d: None).review(
        request(*photos, form=form, instruction="仪表读数")).status == NOT_REVIEWED
    within = RuleReviewer(read_meter=lambda d: [0.0, 0.31]).review(request(*photos, form=form, instruction="仪表读数"))
    assert within.status == PASS  # 0.31 is within 5 % of 0.3


def test_rules_are_data():
    only_place = RuleReviewer(rules=[{"rule": "place", "labels": ("位置",), "max_m": 20_000}])
    verdict = only_place.review(request(photo("2025:06:01 23:00:00", at=(31.3304, 121.4737)),
                                        form={**WINDOW, "作业时段": "白天", "位置": SITE}))
    assert verdict.status == PASS and verdict.details["checked"] == ["place"]
    with pytest.raises(ValueError):
        RuleReviewer(rules=[{"rule": "astrology"}])


def test_rules_without_photos_or_evidence_do_not_review():
    assert RuleReviewer().review(request(form=WINDOW)).status == NOT_REVIEWED
    verdict = RuleReviewer().review(request(photo(), form=WINDOW))  # no capture time at all
    assert verdict.status == NOT_REVIEWED and verdict.reason == "表单或照片缺少时间、位置等信息，无法比对"


def test_a_broken_rule_does_not_hide_the_others(monkeypatch):
    def broken(*args):
        raise RuntimeError("boom")
    monkeypatch.setitem(review.RULES, "daylight", broken)
    verdict = RuleReviewer().review(request(photo("2025:06:02 10:00:00"), form={**WINDOW, "作业时段": "白天"}))
    assert verdict.status == CONCERN and verdict.details["checked"] == ["window"]


# -- a local Chat Completions server -----------------------------------------------------
class ChatServer:
    """Chat Completions on 127.0.0.1; each request is checked exactly, then answered as `mode` says."""

    def __init__(self):
        self.requests: list[dict] = []
        self.problems: list[str] = []
        self.mode = "pass"
        self.expect_texts: list[str] = []
        self.expect_images = 1
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                outer.problems.append(f"GET {self.path}")
                self._send(405, {"error": {"message": "method"}})

            def do_POST(self):
                raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                problems = outer.check(self.path, dict(self.headers), raw)
                outer.problems += problems
                if problems:
                    return self._send(400, {"error": {"message": "; ".join(problems)}})
                mode = outer.mode
                if mode == "slow":
                    outer.release.wait(5)
                    return self._send(200, outer.answer('{"verdict": "pass", "reason": "迟到"}'))
                if mode == "500":
                    return self._send(500, {"error": {"message": "internal"}})
                content = {"pass": '{"verdict": "pass", "reason": "挂锁和危险标签清晰可见"}',
                           "concern": '{"verdict": "concern", "reason": "照片中未见危险标签"}',
                           "fenced": '```json\n{"verdict": "concern", "reason": "看不清挂锁"}\n```',
                           "not_json": "照片看起来没问题",
                           "approve": '{"verdict": "approve", "reason": "批准"}'}.get(mode)
                if mode == "no_choices":
                    return self._send(200, {"id": "x", "object": "chat.completion"})
                if mode == "html":
                    return self._send(200, None, b"<html>gateway</html>")
                self._send(200, outer.answer(content))

            def _send(self, status, payload, raw=None):
                data = raw if raw is not None else json.dumps(payload, ensure_ascii=False).encode()
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except OSError:  # the client gave up (time-out test)
                    pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()
        self.base_url = f"http://127.0.0.1:{self.httpd.server_address[1]}/compatible-mode/v1"

    @staticmethod
    def answer(content: str) -> dict:
        return {"id": "chatcmpl-1", "object": "chat.completion", "created": int(time.time()), "model": MODEL,
                "choices": [{"index": 0, "finish_reason": "stop", "message": {"role": "assistant", "content": content}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}

    def check(self, path: str, headers: dict, raw: bytes) -> list[str]:
        problems = []
        if path != "/compatible-mode/v1/chat/completions":
            problems.append(f"path {path}")
        if headers.get("Authorization") != f"Bearer {KEY}":
            problems.append(f"authorization {headers.get('Authorization')!r}")
        if not headers.get("Content-Type", "").startswith("application/json"):
            problems.append(f"content type {headers.get('Content-Type')!r}")
        try:
            body = json.loads(raw)
        except ValueError:
            return [*problems, "body is not JSON"]
        self.requests.append(body)
        if set(body) != {"model", "messages", "temperature", "response_format"}:
            problems.append(f"keys {sorted(body)}")
        if body.get("model") != MODEL or body.get("temperature") != 0:
            problems.append("model or temperature")
        if body.get("response_format") != {"type": "json_object"}:
            problems.append("response_format")
        messages = body.get("messages")
        if not (isinstance(messages, list) and len(messages) == 2):
            return [*problems, "two messages expected"]
        system, user = messages
        if system.get("role") != "system" or not isinstance(system.get("content"), str):
            problems.append("system message")
        if user.get("role") != "user" or not isinstance(user.get("content"), list):
            return [*problems, "user message"]
        if "json" not in (system["content"] + json.dumps(user["content"])).lower():
            problems.append("JSON mode needs the word JSON in the messages")
        parts = user["content"]
        texts = [p for p in parts if p.get("type") == "text"]
        images = [p for p in parts if p.get("type") == "image_url"]
        if len(texts) != 1 or parts[0] is not texts[0] or len(texts) + len(images) != len(parts):
            problems.append("one text part first, then image parts")
        for expected in self.expect_texts:
            if not texts or expected not in texts[0].get("text", ""):
                problems.append(f"text lacks {expected!r}")
        if len(images) != self.expect_images:
            problems.append(f"{len(images)} images, expected {self.expect_images}")
        for part in images:
            if set(part) != {"type", "image_url"} or set(part["image_url"]) != {"url"}:
                problems.append("image part shape")
                continue
            url = part["image_url"]["url"]
            prefix = "data:image/jpeg;base64,"
            if not url.startswith(prefix):
                problems.append("image is not a base64 JPEG data URL")
                continue
            try:
                image = Image.open(io.BytesIO(base64.b64decode(url[len(prefix):], validate=True)))
                image.load()
            except Exception as exc:  # noqa: BLE001
                problems.append(f"image does not decode: {exc}")
                continue
            if image.format != "JPEG" or max(image.size) > 1280:
                problems.append(f"image {image.format} {image.size}")
        return problems

    def close(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def _no_proxy(monkeypatch):
    """httpx honours *_PROXY variables: 127.0.0.1 must be reached directly."""
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def server(settings):
    chat = ChatServer()
    settings.ANLIAN_VISION_BASE_URL = chat.base_url + "/"  # a trailing slash is fine
    settings.ANLIAN_VISION_MODEL = MODEL
    settings.ANLIAN_VISION_API_KEY = KEY
    settings.ANLIAN_VISION_TIMEOUT = 5
    chat.expect_texts = ["隔离能量源", INSTRUCTION, "隔离点数量：3", "作业时段：白天", "电气、液压"]
    yield chat
    chat.close()


FORM = {"隔离点数量": 3, "作业时段": "白天", "能量源": ["电气", "液压"]}


def vision_request(*photos: bytes) -> ReviewRequest:
    return request(*(photos or (photo("2025:06:01 10:00:00", at=SITE, size=(3000, 2000)),)), form=FORM)


def test_vision_pass(server):
    verdict = VisionReviewer().review(vision_request())
    assert server.problems == []
    assert verdict == Verdict(PASS, "挂锁和危险标签清晰可见", "vision", verdict.details)
    assert verdict.details["model"] == MODEL and verdict.details["photos"] == 1
    text = server.requests[0]["messages"][1]["content"][0]["text"]
    assert "拍摄时间 2025-06-01 10:00" in text and "位置 31.230400,121.473700" in text


def test_vision_concern_with_reason_several_photos_any_format(server):
    server.mode, server.expect_images = "concern", 3
    png = photo(fmt="PNG", size=(800, 1600))
    portrait = photo("2025:06:01 10:00:00", size=(1000, 3000))
    verdict = VisionReviewer().review(vision_request(photo(), png, portrait))
    assert server.problems == []
    assert verdict.status == CONCERN and verdict.reason == "照片中未见危险标签" and verdict.is_reminder
    sizes = [Image.open(io.BytesIO(base64.b64decode(p["image_url"]["url"].split(",", 1)[1]))).size
             for p in server.requests[0]["messages"][1]["content"][1:]]
    assert sizes == [(640, 480), (640, 1280), (427, 1280)]


def test_vision_answer_in_a_code_fence_is_read(server):
    server.mode = "fenced"
    verdict = VisionReviewer().review(vision_request())
    assert (verdict.status, verdict.reason) == (CONCERN, "看不清挂锁")


def test_vision_server_error(server):
    server.mode = "500"
    verdict = VisionReviewer().review(vision_request())
    assert server.problems == [] and len(server.requests) == 1
    assert verdict.status == NOT_REVIEWED and verdict.reason == "图像预审服务出错（HTTP 500），未审核"
    assert verdict.details["status"] == 500


def test_vision_slow_server_times_out(server, settings):
    server.mode = "slow"
    settings.ANLIAN_VISION_TIMEOUT = 0.3
    started = time.monotonic()
    verdict = VisionReviewer().review(vision_request())
    assert time.monotonic() - started < 3
    assert verdict.status == NOT_REVIEWED and verdict.reason == "图像预审超时（0.3秒），未审核"
    assert verdict.details["error"] == "timeout" and server.problems == []


@pytest.mark.parametrize("mode", ["not_json", "no_choices", "html"])
def test_vision_unreadable_answers(server, mode):
    server.mode = mode
    verdict = VisionReviewer().review(vision_request())
    assert server.problems == []
    assert (verdict.status, verdict.reason) == (NOT_REVIEWED, "图像预审的回复无法识别，未审核")


def test_vision_model_cannot_approve(server):
    server.mode = "approve"
    verdict = VisionReviewer().review(vision_request())
    assert (verdict.status, verdict.reason) == (NOT_REVIEWED, "图像预审的结论无效，未审核")


@pytest.mark.parametrize("missing", ["ANLIAN_VISION_API_KEY", "ANLIAN_VISION_BASE_URL", "ANLIAN_VISION_MODEL"])
def test_vision_not_configured_sends_nothing(server, settings, missing):
    setattr(settings, missing, "")
    verdict = VisionReviewer().review(vision_request())
    assert verdict.status == NOT_REVIEWED and verdict.reason == "未配置图像预审模型，未审核"
    assert server.requests == [] and not VisionReviewer().configured()


def test_vision_settings_absent_altogether(settings):
    for name in ("ANLIAN_VISION_BASE_URL", "ANLIAN_VISION_API_KEY"):
        if hasattr(settings, name):
            delattr(settings, name)
    assert VisionReviewer().review(vision_request()).status == NOT_REVIEWED
    assert [type(r) for r in review.default_reviewers()] == [RuleReviewer]


def test_vision_wrong_key_is_refused_by_the_server(server):
    verdict = VisionReviewer(api_key="sk-wrong").review(vision_request())
    assert verdict.status == NOT_REVIEWED and verdict.details["status"] == 400
    assert server.problems == ["authorization 'Bearer sk-wrong'"]


def test_vision_connection_refused(settings):
    chat = ChatServer()
    chat.close()  # the port is free again: nothing listens
    verdict = VisionReviewer(base_url=chat.base_url, api_key=KEY, model=MODEL, timeout=2).review(vision_request())
    assert (verdict.status, verdict.reason) == (NOT_REVIEWED, "无法连接图像预审服务，未审核")


def test_vision_undecodable_photos_are_not_sent(server):
    verdict = VisionReviewer().review(request(b"\xff\xd8\xff garbage", form=FORM))
    assert verdict.status == NOT_REVIEWED and server.requests == []


def test_review_all(server):
    class Exploding:
        name = "exploding"

        def review(self, request):
            raise RuntimeError("boom")

    server.mode = "concern"
    req = request(photo("2025:06:01 23:10:00", at=SITE, size=(3000, 2000)), form={**FORM, **WINDOW})
    verdicts = review_all(req, [RuleReviewer(), VisionReviewer(), Exploding()])
    assert [(v.reviewer, v.status) for v in verdicts] == [
        ("rules", CONCERN), ("vision", CONCERN), ("exploding", NOT_REVIEWED)]
    assert "夜间" in verdicts[0].reason and "晚于" in verdicts[0].reason
    assert server.problems == []
    assert [type(r) for r in review.default_reviewers()] == [RuleReviewer, VisionReviewer]
