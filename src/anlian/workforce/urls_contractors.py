from django.urls import path

from anlian.workforce import views_contractors as views

# Mounted at /contractors/ in the "workforce" namespace. Keyword names are fixed: the scoping
# matrix maps each (contractor_id, document_id, contractor_area_id) to another company's object.
urlpatterns = [
    path("", views.contractors, name="contractors"),
    path("new/", views.contractor_new, name="contractor_new"),
    path("redlist/", views.redlist_page, name="redlist"),
    path("<int:contractor_id>/", views.contractor_detail, name="contractor"),
    path("<int:contractor_id>/edit/", views.contractor_edit, name="contractor_edit"),
    path("<int:contractor_id>/delete/", views.contractor_delete, name="contractor_delete"),
    path("<int:contractor_id>/status/", views.contractor_status, name="contractor_status"),
    path("<int:contractor_id>/documents/new/", views.document_new, name="contractor_document_new"),
    path("documents/<int:document_id>/edit/", views.document_edit, name="contractor_document_edit"),
    path("documents/<int:document_id>/delete/", views.document_delete, name="contractor_document_delete"),
    path("<int:contractor_id>/areas/new/", views.area_new, name="contractor_area_new"),
    path("areas/<int:contractor_area_id>/edit/", views.area_edit, name="contractor_area_edit"),
    path("areas/<int:contractor_area_id>/delete/", views.area_delete, name="contractor_area_delete"),
]
