from django.urls import path

from anlian.orgs import mobile_views as views

app_name = "mobile"

urlpatterns = [
    path("", views.home, name="home"),
    path("equipment/", views.equipment_search, name="equipment_search"),
    path("equipment/<int:equipment_id>/", views.equipment, name="equipment"),
    path("people/", views.people_search, name="people_search"),
    path("people/<int:person_id>/", views.person, name="person"),
    path("me/", views.me, name="me"),
]
