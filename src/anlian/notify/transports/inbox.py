"""The in-app inbox (站内消息): a `Notice` in the recipient's list, shown in the app's bell.

The worker names the recipient in `out.extra["person_id"]` (the delivery's person). The notice's
key is the message's key (`out.extra["message_key"]`; the idempotency key when there is none):
a message has one inbox delivery per person and Notice is unique per (person, key), so a second
attempt of the same delivery finds its notice and creates nothing new — and a notice written
before a timer moved onto notifications, under the same key, is not written twice. There is no service to be down:
the only failure is a delivery without a (still existing) person, which no retry can mend.

`send_many` writes a whole batch of notices at once (the worker uses it: an alarm to a thousand
people is a few statements, not three queries per person); `send` is the same for one.
"""

from __future__ import annotations

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext as _

from anlian.core import clock
from anlian.core.models import Notice
from anlian.notify.transports import Outgoing, Result
from anlian.notify.transports.webhook import guarded
from anlian.orgs.models import Person

COLUMNS = ("person_id", "key", "title", "body", "url", "created_at")
ROWS_PER_INSERT = 150  # 6 parameters a row: within SQLite's historical limit of 999 a statement


def _local_url(url: str) -> str:
    """Messages carry absolute links (they open from DingTalk or an SMS); inside the site a link
    stays relative, so the bell works whatever address the site is reached by."""
    site = settings.SITE_URL.rstrip("/")
    return url[len(site):] or "/" if site and url.startswith(site + "/") else url


def _notice_key(out: Outgoing) -> str:
    return str(out.extra.get("message_key") or out.idempotency_key or "")[:200]


class Inbox:
    kind = "inbox"

    @guarded
    def send(self, config: dict, out: Outgoing) -> Result:
        return self.send_many(config, [out])[0]

    def send_many(self, config: dict, outs: list[Outgoing]) -> list[Result]:
        """One result per `out`, in order. A database error is raised (the worker then retries the
        batch with the same keys, which creates nothing twice)."""
        person = [out.extra.get("person_id") for out in outs]
        asked = {pid for pid in person if type(pid) is int}
        with transaction.atomic():
            known = set(Person.objects.filter(pk__in=asked).values_list("pk", flat=True)) if asked else set()
            keys = [_notice_key(out) for out in outs]
            good = {(pid, key): out for pid, key, out in zip(person, keys, outs, strict=True)
                    if pid in known and key}
            made = self._insert(good)
            existed = self._existing([pair for pair in good if pair not in made])
        results = []
        for pair in zip(person, keys, strict=True):
            if pair[0] not in known:
                results.append(Result(ok=False, detail=_("没有收件人")))
            elif not pair[1]:
                results.append(Result(ok=False, detail=_("缺少幂等键")))
            elif pair in made:
                results.append(Result(ok=True, detail=_("已放入站内消息"), response=str(made[pair])))
            else:
                results.append(Result(ok=True, detail=_("站内消息已存在"), response=str(existed.get(pair, ""))))
        return results

    @staticmethod
    def _insert(good: dict[tuple[int, str], Outgoing]) -> dict[tuple[int, str], int]:
        """Write the notices not there yet; (person id, key) → id of each one written.

        Raw SQL: ON CONFLICT DO NOTHING keeps the (person, key) constraint the last word against a
        concurrent attempt, and RETURNING names what was written, in one statement per 150 rows
        (the ORM returns no ids when it ignores conflicts)."""
        table = connection.ops.quote_name(Notice._meta.db_table)
        now = connection.ops.adapt_datetimefield_value(clock.now())
        rows = [(pid, key, out.title[:200], out.text, _local_url(out.url)[:500], now) for (pid, key), out in good.items()]
        made = {}
        with connection.cursor() as cursor:
            for start in range(0, len(rows), ROWS_PER_INSERT):
                chunk = rows[start:start + ROWS_PER_INSERT]
                values = ", ".join(["(" + ", ".join(["%s"] * len(COLUMNS)) + ")"] * len(chunk))
                cursor.execute(f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES {values} "
                               "ON CONFLICT (person_id, key) DO NOTHING RETURNING person_id, key, id",
                               [value for row in chunk for value in row])
                made.update(((pid, key), pk) for pid, key, pk in cursor.fetchall())
        return made

    @staticmethod
    def _existing(pairs: list[tuple[int, str]]) -> dict[tuple[int, str], int]:
        """(person id, key) → id of notices an earlier attempt wrote (a repeat: rare)."""
        if not pairs:
            return {}
        rows = Notice.objects.filter(person_id__in={pid for pid, _key in pairs}, key__in={key for _pid, key in pairs})
        return {(pid, key): pk for pid, key, pk in rows.values_list("person_id", "key", "pk")}
