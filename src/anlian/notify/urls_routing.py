from django.urls import path

from anlian.notify import views_routing as views

app_name = "notify_routing"

# Mounted at /notifications/ next to anlian.notify.urls: company_id names a company (OrgUnit of
# kind company), route_id a Route, event an event code of texts.EVENTS, language a code of
# settings.LANGUAGES (zh-hans, en), applies_to hazard or permit (escalation policies).
urlpatterns = [
    path("routes/", views.routes, name="routes"),
    path("routes/new/<int:company_id>/", views.route_new, name="route_new"),
    path("routes/<int:route_id>/", views.route_edit, name="route_edit"),
    path("routes/<int:route_id>/delete/", views.route_delete, name="route_delete"),
    path("texts/", views.text_list, name="texts"),
    path("texts/<int:company_id>/<slug:event>/<slug:language>/", views.text_edit, name="text"),
    path("texts/<int:company_id>/<slug:event>/<slug:language>/reset/", views.text_reset, name="text_reset"),
    path("escalation/", views.escalation_policies, name="escalation"),
    path("escalation/<int:company_id>/<slug:applies_to>/", views.escalation_edit, name="escalation_edit"),
    path("escalation/<int:company_id>/<slug:applies_to>/reset/", views.escalation_reset, name="escalation_reset"),
    path("m/settings/", views.my_settings, name="my_settings"),
]
