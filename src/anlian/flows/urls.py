from django.urls import path

from anlian.flows import views

app_name = "flows"

# Keyword names (template_id, version_id) are fixed: tests/test_scoping_matrix.py maps each name to
# an object of another company and checks that every page refuses it.
urlpatterns = [
    path("", views.template_list, name="list"),
    path("import/", views.template_import, name="import"),
    path("validate/", views.validate, name="validate"),
    path("<int:template_id>/", views.template_detail, name="detail"),
    path("<int:template_id>/edit/", views.template_edit, name="edit"),
    path("<int:template_id>/copy/", views.template_copy, name="copy"),
    path("<int:template_id>/versions/<int:version_id>/", views.version_detail, name="version"),
    path("<int:template_id>/versions/<int:version_id>/export/", views.version_export, name="export"),
    path("<int:template_id>/versions/<int:version_id>/publish/", views.version_publish, name="publish"),
]
