"""The core must stay importable and usable without Django (DESIGN §3)."""

import subprocess
import sys

from anlian.flows.core import Refusal, set_translator
from anlian.flows.core.i18n import MESSAGES


def test_import_does_not_import_django():
    code = ("import sys, anlian.flows.core, anlian.flows.core.engine, anlian.flows.core.schema;"
            "assert 'django' not in sys.modules, sorted(m for m in sys.modules if m.startswith('django'))")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_messages_are_chinese_msgids_translated_when_read():
    refusal = Refusal("reading_expired", {"step": "气体分析", "minutes": 30})
    assert refusal.message == "气体分析已超过30分钟，请重新分析"
    set_translator({MESSAGES["reading_expired"]: "{step}: older than {minutes} min, analyse again"}.get)
    try:
        assert refusal.message == "气体分析: older than 30 min, analyse again"
    finally:
        set_translator(None)
    assert refusal.as_dict() == {"code": "reading_expired", "message": "气体分析已超过30分钟，请重新分析",
                                 "field": None, "params": {"step": "气体分析", "minutes": 30}}


def test_every_message_formats_with_its_own_placeholders():
    import string

    for code, msgid in MESSAGES.items():
        names = {name for _, name, _, _ in string.Formatter().parse(msgid) if name}
        assert Refusal(code, {n: "x" for n in names}).message, code
