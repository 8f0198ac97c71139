from django.urls import path

from anlian.hazards import views_supervision as views

# Mounted at /hazards/supervision/ in the "hazards" namespace. Query: unit (OrgUnit id), level
# (plant | workshop | team), start / end (dates of the report).
urlpatterns = [
    path("", views.supervision_page, name="supervision"),
]
