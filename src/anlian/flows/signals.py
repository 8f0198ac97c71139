"""Signals of the workflow engine's Django layer."""

from django.dispatch import Signal

# Sent inside the recording transaction after each event is appended and the job's cached fields
# are refreshed, with `instance`, `template` (the parsed core.Template), `event` (the core event)
# and `row` (the stored Event). Apps that keep their own view of a kind of job (hazards) listen
# and check `template.kind` first, so permits pay nothing.
event_recorded = Signal(use_caching=True)  # sent for every step: receivers are looked up once per sender
