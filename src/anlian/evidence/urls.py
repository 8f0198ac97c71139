from django.urls import path

from anlian.evidence import views

app_name = "evidence"

urlpatterns = [
    path("<str:sha256>/", views.file, name="file"),
    path("<str:sha256>/thumb/", views.thumb, name="thumb"),
    path("<str:sha256>/display/<int:event_id>/", views.display, name="display"),
]
