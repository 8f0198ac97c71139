"""The product's URLs plus two floors for bench/step_api.py:

- `bench/bare`: parse the JSON body, answer a small JSON object (the issue's floor);
- `bench/record/<id>`: what the least a hand-written Django endpoint recording a step must do —
  find the token's user, lock the job, append one event row, update the job — with no checks,
  no engine, no hash chain. Only for explaining where our time goes.
"""

import hashlib
import json

from django.db import transaction
from django.http import JsonResponse
from django.urls import include, path
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from anlian.accounts.models import ApiToken
from anlian.flows.models import Event, Instance


@csrf_exempt
def bare(request):
    body = json.loads(request.body)
    return JsonResponse({"ok": True, "kind": body.get("kind")})


@csrf_exempt
def record(request, instance_id: int):
    body = json.loads(request.body)
    secret = request.headers["Authorization"].removeprefix("Bearer ")
    token = ApiToken.objects.select_related("user__person").get(key_hash=hashlib.sha256(secret.encode()).hexdigest())
    with transaction.atomic():
        job = Instance.objects.select_for_update().get(pk=instance_id)
        event = Event.objects.create(instance=job, seq=job.last_seq + 1, kind="step_completed",
                                     step=body.get("step", ""), actor=token.user.person, actor_key="bench",
                                     payload=body, server_time=timezone.now(), prev_hash="", hash="")
        Instance.objects.filter(pk=job.pk).update(last_seq=event.seq)
    return JsonResponse({"seq": event.seq}, status=201)


urlpatterns = [path("bench/bare", bare), path("bench/record/<int:instance_id>", record),
               path("", include("anlian.urls"))]
