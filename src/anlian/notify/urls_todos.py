"""我的待办, included at the site root: /m/todo/ (phone) and /todo/ (desktop)."""

from django.urls import path

from anlian.notify import views_todos as views

app_name = "todos"

urlpatterns = [
    path("m/todo/", views.phone, name="phone"),
    path("todo/", views.desktop, name="desktop"),
    # what messages link to: the phone or the desktop page of the item, by the device that opens it
    path("o/job/<int:instance_id>/", views.open_job, name="open_job"),
    path("o/hazard/<int:hazard_id>/", views.open_hazard, name="open_hazard"),
]
