from django.urls import path

from anlian.training import views

app_name = "training"

# Keyword names name objects for tests/test_scoping_matrix.py: course_id (Course), session_id
# (Session), attendance_id (Attendance), person_id (Person), company_id (OrgUnit of kind company).
urlpatterns = [
    path("", views.courses, name="courses"),
    path("courses/new/", views.course_new, name="course_new"),
    path("courses/<int:course_id>/", views.course_detail, name="course"),
    path("courses/<int:course_id>/edit/", views.course_edit, name="course_edit"),
    path("courses/<int:course_id>/sessions/new/", views.session_new, name="session_new"),
    path("sessions/<int:session_id>/", views.session_detail, name="session"),
    path("sessions/<int:session_id>/edit/", views.session_edit, name="session_edit"),
    path("sessions/<int:session_id>/attendance.xlsx", views.session_xlsx, name="session_xlsx"),
    path("attendance/<int:attendance_id>/delete/", views.attendance_delete, name="attendance_delete"),
    path("people/<int:person_id>/", views.person_record, name="person"),
    path("people/<int:person_id>/record.xlsx", views.person_xlsx, name="person_xlsx"),
    path("people/<int:person_id>/reassign/", views.reassign, name="reassign"),
    path("refreshers/", views.refreshers, name="refreshers"),
    path("policy/<int:company_id>/", views.policy, name="policy"),
    path("me/", views.mine, name="mine"),
]
