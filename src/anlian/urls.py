from django.contrib import admin
from django.urls import include, path

from anlian.core import views as core_views
from anlian.core.api import api

urlpatterns = [
    path("api/v1/", api.urls),  # first: phones submit steps here, and URL resolution walks this list
    path("", core_views.home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("m/notices/", core_views.notices, name="notices"),
    path("i18n/", include("django.conf.urls.i18n")),
    path("", include("anlian.accounts.urls")),
    path("", include("anlian.orgs.urls")),
    path("", include("anlian.notify.urls_todos")),
    path("m/", include("anlian.orgs.mobile_urls")),
    path("", include("anlian.permits.urls")),
    path("flow-templates/", include("anlian.flows.urls")),
    path("files/", include("anlian.evidence.urls")),
    path("", include("anlian.workforce.urls")),
    path("training/", include("anlian.training.urls")),
    path("hazards/", include("anlian.hazards.urls")),
    path("notifications/", include("anlian.notify.urls")),
    path("notifications/", include("anlian.notify.urls_routing")),
    path("", include("anlian.seal.urls")),
    path("audit/", include("anlian.audit.urls")),
    path("", include("anlian.dossiers.urls")),
    path("sensors/", include("anlian.sensors.urls")),
    path("admin/", admin.site.urls),
]
