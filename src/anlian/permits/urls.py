from django.urls import path

from anlian.permits import mobile_views, views

app_name = "permits"

# Keyword names are fixed (instance_id, token): tests/test_scoping_matrix.py maps each to an object of
# another company and checks that every page refuses it.
urlpatterns = [
    # phone
    path("m/sw.js", mobile_views.service_worker, name="service_worker"),
    path("m/permits/", mobile_views.tasks, name="tasks"),
    path("m/permits/new/", mobile_views.start, name="start"),
    path("m/permits/endorse/", mobile_views.endorse, name="endorse"),
    path("m/permits/<int:instance_id>/", mobile_views.job, name="job"),
    path("m/permits/<int:instance_id>/action/", mobile_views.job_action, name="job_action"),
    path("m/permits/<int:instance_id>/steps/<str:step_key>/", mobile_views.step, name="step"),
    # anyone holding the printed permit's QR code
    path("v/<str:token>/", views.verify, name="verify"),
    # desktop
    path("permits/", views.ledger, name="ledger"),
    path("permits/<int:instance_id>/", views.detail, name="detail"),
    path("permits/<int:instance_id>/qr.svg", views.qr, name="qr"),
]
