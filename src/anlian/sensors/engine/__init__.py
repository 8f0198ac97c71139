"""The sensor rule engine, pure Python (no Django): readings, rules as data, evaluation.

See docs/sensors.md. The Django app around it (devices, points, ingestion, alarms, freezing
permits) calls ``parse_batch``, ``load_rules`` and ``Engine.feed`` / ``Engine.tick``, stores the
state with ``to_json`` and carries out each transition's ``actions``.
"""

from .engine import Engine, Transition, from_json, from_us, new_state, to_json, to_us
from .i18n import MESSAGES, set_translator
from .readings import (
           HEARTBEAT_PREFIX,
           QUALITIES,
           Batch,
           Reading,
           Rejected,
           make_reading,
           parse_batch,
)
from .rules import (
           Condition,
           Rate,
           Rule,
           RuleError,
           load_rule,
           load_rules,
           parse_seconds,
)

__all__ = [
           "HEARTBEAT_PREFIX",
           "MESSAGES",
           "QUALITIES",
           "Batch",
           "Condition",
           "Engine",
           "Rate",
           "Reading",
           "Rejected",
           "Rule",
           "RuleError",
           "Transition",
           "from_json",
           "from_us",
           "load_rule",
           "load_rules",
           "make_reading",
           "new_state",
           "parse_batch",
           "parse_seconds",
           "set_translator",
           "to_json",
           "to_us",
]
