from django.urls import path

from anlian.workforce import views_badges as views

# Mounted at /badges/ in the "workforce" namespace. Keyword names are fixed (person_id, badge_id,
# check_id, token): tests/test_scoping_matrix.py maps each to an object of another company.
urlpatterns = [
    # what a badge's QR code opens (phone), and the holder's photo on it
    path("t/<str:token>/", views.badge_page, name="badge_page"),
    path("people/<int:person_id>/photo", views.badge_photo, name="badge_photo"),
    # the gate (phone)
    path("entry/", views.entry, name="entry"),
    path("checks/<int:check_id>/", views.entry_check, name="entry_check"),
    # desktop
    path("checks/", views.entry_log, name="entry_log"),
    path("people/<int:person_id>/", views.person_badge, name="person_badge"),
    path("people/<int:person_id>/issue", views.badge_issue, name="badge_issue"),
    path("<int:badge_id>/revoke", views.badge_revoke, name="badge_revoke"),
    path("<int:badge_id>/qr.svg", views.badge_qr, name="badge_qr"),
]
