from django.urls import path

from anlian.audit import views

app_name = "audit"

# Mounted at /audit/: entry_id names an AuditEntry.
urlpatterns = [
    path("", views.entry_list, name="list"),
    path("export/", views.entry_export, name="export"),
    path("<int:entry_id>/", views.entry_detail, name="entry"),
]
