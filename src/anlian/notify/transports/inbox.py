"""The in-app inbox (站内消息): a `Notice` in the recipient's list, shown in the app's bell.

The worker names the recipient in `out.extra["person_id"]` (the delivery's person). The notice's
key is the delivery's idempotency key and Notice is unique per (person, key), so a second attempt
of the same delivery finds its notice and creates nothing new. There is no service to be down:
the only failure is a delivery without a (still existing) person, which no retry can mend.
"""

from __future__ import annotations

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
        person_id = out.extra.get("person_id")
        if type(person_id) is not int or not Person.objects.filter(pk=person_id).exists():
            return Result(ok=False, detail=_("没有收件人"))
        if not out.idempotency_key:
            return Result(ok=False, detail=_("缺少幂等键"))
        # get_or_create survives a concurrent attempt: the (person, key) constraint lets one win.
        notice, made = Notice.objects.get_or_create(
            person_id=person_id, key=out.idempotency_key,
            defaults={"title": out.title[:200], "body": out.text, "url": out.url[:500], "created_at": clock.now()},
        )
        return Result(ok=True, detail=_("已放入站内消息") if made else _("站内消息已存在"), response=str(notice.pk))
