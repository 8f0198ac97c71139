from django.urls import path

from anlian.workforce import views_imports as views

# Mounted at /imports/ in the "workforce" namespace. `?kind=` is people, certificates or training.
urlpatterns = [
    path("", views.imports, name="imports"),
    path("new/", views.import_new, name="import_new"),
    path("template.xlsx", views.import_template, name="import_template"),
    path("<int:batch_id>/", views.batch_detail, name="import"),
    path("<int:batch_id>/confirm/", views.batch_confirm, name="import_confirm"),
]
