from django.urls import path

from anlian.hazards import views_pages as views

# Keyword names are fixed (hazard_id, rule_id): tests/test_scoping_matrix.py maps each to an object of
# another company. Phone pages live under m/ (the phone layout and big targets).
urlpatterns = [
    # phone
    path("m/report/", views.report, name="report"),
    path("m/", views.mine, name="mine"),
    path("m/<int:hazard_id>/", views.m_detail, name="m_detail"),
    # desktop
    path("", views.hazard_list, name="list"),
    path("<int:hazard_id>/", views.detail, name="detail"),
    path("rules/", views.rules, name="rules"),
    path("rules/<int:rule_id>/edit/", views.rule_edit, name="rule_edit"),
    path("rules/<int:rule_id>/toggle/", views.rule_toggle, name="rule_toggle"),
    path("rules/<int:rule_id>/delete/", views.rule_delete, name="rule_delete"),
]
