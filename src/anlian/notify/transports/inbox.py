"""The in-app inbox (站内消息): a `Notice` in the recipient's list, shown in the app's bell.

The worker names the recipient in `out.extra["person_id"]` (the delivery's person). The notice's
key is the delivery's idempotency key and Notice is unique per (person, key), so a second attempt
of the same delivery finds its notice and creates nothing new. There is no service to be down:
the only failure is a delivery without a (still existing) person, which no retry can mend.

`send_many` writes a whole batch of notices at once (the worker uses it: an alarm to a thousand
people is a few queries, not three per person); `send` is the same for one.
"""

from __future__ import annotations

from django.db import transaction
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.models import Notice
from anlian.notify.transports import Outgoing, Result
from anlian.notify.transports.webhook import guarded
from anlian.orgs.models import Person


class Inbox:
    kind = "inbox"

    @guarded
    def send(self, config: dict, out: Outgoing) -> Result:
        return self.send_many(config, [out])[0]

    def send_many(self, config: dict, outs: list[Outgoing]) -> list[Result]:
        """One result per `out`, in order. A database error is raised (the worker retries the batch
        with the same keys, which creates nothing twice)."""
        wanted = {id(out): out.extra.get("person_id") for out in outs}
        asked = {pid for pid in wanted.values() if type(pid) is int}
        with transaction.atomic():
            existing = set(Person.objects.filter(pk__in=asked).values_list("pk", flat=True)) if asked else set()
            good = [out for out in outs if wanted[id(out)] in existing and out.idempotency_key]
            found = self._notices(good)
            now = clock.now()
            # ignore_conflicts: a concurrent attempt of the same delivery may have written it
            # meanwhile; the (person, key) constraint keeps one, and the look-up below finds it.
            Notice.objects.bulk_create(
                [Notice(person_id=wanted[id(out)], key=out.idempotency_key, title=out.title[:200], body=out.text,
                        url=out.url[:500], created_at=now)
                 for out in good if (wanted[id(out)], out.idempotency_key) not in found],
                ignore_conflicts=True)
            made = self._notices([out for out in good if (wanted[id(out)], out.idempotency_key) not in found])
        results = []
        for out in outs:
            pair = (wanted[id(out)], out.idempotency_key)
            if pair[0] not in existing:
                results.append(Result(ok=False, detail=_("没有收件人")))
            elif not out.idempotency_key:
                results.append(Result(ok=False, detail=_("缺少幂等键")))
            elif pair in found:
                results.append(Result(ok=True, detail=_("站内消息已存在"), response=str(found[pair])))
            else:
                results.append(Result(ok=True, detail=_("已放入站内消息"), response=str(made[pair])))
        return results

    @staticmethod
    def _notices(outs: list[Outgoing]) -> dict[tuple[int, str], int]:
        """(person id, key) → notice id of those that exist."""
        if not outs:
            return {}
        rows = Notice.objects.filter(person_id__in={out.extra["person_id"] for out in outs},
                                     key__in={out.idempotency_key for out in outs})
        return {(person, key): pk for person, key, pk in rows.values_list("person_id", "key", "pk")}
