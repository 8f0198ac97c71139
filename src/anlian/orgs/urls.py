from django.urls import path

from anlian.orgs import views

app_name = "orgs"

# Keyword names (unit_id, area_id, …) are fixed: tests/test_scoping_matrix.py maps each name to an
# object of another company and checks that every page refuses it.
urlpatterns = [
    path("org/", views.tree, name="tree"),
    path("org/new/", views.unit_new, name="unit_new"),
    path("org/<int:unit_id>/", views.unit_detail, name="unit"),
    path("org/<int:unit_id>/edit/", views.unit_edit, name="unit_edit"),
    path("org/<int:unit_id>/move/", views.unit_move, name="unit_move"),
    path("org/<int:unit_id>/delete/", views.unit_delete, name="unit_delete"),
    path("areas/", views.areas, name="areas"),
    path("areas/new/", views.area_new, name="area_new"),
    path("areas/<int:area_id>/", views.area_detail, name="area"),
    path("areas/<int:area_id>/edit/", views.area_edit, name="area_edit"),
    path("areas/<int:area_id>/delete/", views.area_delete, name="area_delete"),
    path("equipment/", views.equipment_list, name="equipment_list"),
    path("equipment/new/", views.equipment_new, name="equipment_new"),
    path("equipment/<int:equipment_id>/", views.equipment_detail, name="equipment"),
    path("equipment/<int:equipment_id>/edit/", views.equipment_edit, name="equipment_edit"),
    path("equipment/<int:equipment_id>/delete/", views.equipment_delete, name="equipment_delete"),
    path("equipment/<int:equipment_id>/qr.svg", views.equipment_qr, name="equipment_qr"),
    path("equipment/<int:equipment_id>/label/", views.equipment_label, name="equipment_label"),
    path("people/", views.people, name="people"),
    path("people/new/", views.person_new, name="person_new"),
    path("people/<int:person_id>/", views.person_detail, name="person"),
    path("people/<int:person_id>/edit/", views.person_edit, name="person_edit"),
    path("people/<int:person_id>/photo", views.person_photo, name="person_photo"),
    path("people/<int:person_id>/grants/", views.grant_add, name="grant_add"),
    path("grants/<int:grant_id>/revoke/", views.grant_revoke, name="grant_revoke"),
    path("roles/", views.roles, name="roles"),
    path("roles/new/", views.role_new, name="role_new"),
    path("roles/<int:role_id>/edit/", views.role_edit, name="role_edit"),
]
