from django.urls import path

from anlian.hazards import views_timers as views

# Mounted at /hazards/deadlines/ in the "hazards" namespace: company_id names a company (OrgUnit of
# kind company), level is "general" or "major".
urlpatterns = [
    path("", views.deadlines, name="deadlines"),
    path("<int:company_id>/<slug:level>/", views.deadline_edit, name="deadline_edit"),
    path("<int:company_id>/<slug:level>/reset/", views.deadline_reset, name="deadline_reset"),
]
