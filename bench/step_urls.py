"""The product's URLs plus `bench/bare`: parse the JSON body, answer a small JSON object."""

import json

from django.http import JsonResponse
from django.urls import include, path
from django.views.decorators.csrf import csrf_exempt


@csrf_exempt
def bare(request):
    body = json.loads(request.body)
    return JsonResponse({"ok": True, "kind": body.get("kind")})


urlpatterns = [path("bench/bare", bare), path("", include("anlian.urls"))]
