"""Certificates, what expires soon and violations, under /qualifications/ (namespace "workforce")."""

from django.urls import path

from anlian.workforce import views_certificates as views

urlpatterns = [
    path("certificates/new/", views.certificate_new, name="certificate_new"),
    path("certificates/<int:certificate_id>/", views.certificate_detail, name="certificate"),
    path("certificates/<int:certificate_id>/edit/", views.certificate_edit, name="certificate_edit"),
    path("certificates/<int:certificate_id>/renew/", views.certificate_renew, name="certificate_renew"),
    path("certificates/<int:certificate_id>/review/", views.certificate_review, name="certificate_review"),
    path("certificates/<int:certificate_id>/revoke/", views.certificate_revoke, name="certificate_revoke"),
    path("certificates/<int:certificate_id>/verify/", views.certificate_verify, name="certificate_verify"),
    path("expiring/", views.expiring, name="expiring"),
    path("violations/", views.violation_list, name="violations"),
    path("violations/<int:violation_id>/", views.violation_detail, name="violation"),
    path("violations/<int:violation_id>/act/", views.violation_act, name="violation_act"),
    path("m/violations/new/", views.violation_record, name="violation_record"),
]
