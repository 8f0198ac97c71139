"""Pure-Python workflow core: templates, events, replay and decisions. No Django imports."""

from .clock import FixedClock, parse_duration
from .engine import Decision, apply, check, decide, due_at, overdue, tasks
from .events import Action, Event, chain_hash
from .facts import SYSTEM, ActiveJob, ActorFacts, StaticFacts, WorldFacts
from .i18n import MESSAGES, Refusal, set_translator
from .schema import Template, TemplateError, load_template
from .state import State, replay

__all__ = ["FixedClock", "parse_duration", "Decision", "apply", "check", "decide", "due_at", "overdue", "tasks",
           "Action", "Event", "chain_hash", "SYSTEM", "ActiveJob", "ActorFacts", "StaticFacts",
           "WorldFacts", "MESSAGES", "Refusal", "set_translator", "Template", "TemplateError",
           "load_template", "State", "replay"]
