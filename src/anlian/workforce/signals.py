"""Signals between the parts of the workforce app and the permit engine."""

from django.dispatch import Signal

# Sent with `person` (and optionally `reason`, a short translated text) after anything that can
# take away a person's qualification commits: a certificate revoked or corrected, a violation
# opened, a contractor suspended, training records changed. The qualification sweep listens and
# takes the person off running permits that now refuse them.
qualification_changed = Signal()
