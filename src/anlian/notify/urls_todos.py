"""我的待办, included at the site root: /m/todo/ (phone) and /todo/ (desktop)."""

from django.urls import path

from anlian.notify import views_todos as views

app_name = "todos"

urlpatterns = [
    path("m/todo/", views.phone, name="phone"),
    path("todo/", views.desktop, name="desktop"),
]
