from django.urls import path

from anlian.hazards import views_ledger as views

# Mounted at /hazards/ledger/ in the "hazards" namespace. The ledger's filters are query
# parameters: stage, level, category, area (Area id), unit (responsible OrgUnit id), overdue (1/0),
# open (1), recurrence (1), start / end (reported dates), q.
urlpatterns = [
    path("", views.ledger_page, name="ledger"),
    path("export.xlsx", views.ledger_export, name="ledger_export"),
    path("print/", views.ledger_print, name="ledger_print"),
    path("imports/", views.imports, name="ledger_imports"),
    path("imports/new/", views.import_new, name="ledger_import_new"),
    path("imports/template.xlsx", views.import_template, name="ledger_import_template"),
    path("imports/<int:hazard_batch_id>/", views.batch_detail, name="ledger_import"),
    path("imports/<int:hazard_batch_id>/confirm/", views.batch_confirm, name="ledger_import_confirm"),
]
