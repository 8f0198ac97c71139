from django.urls import path

from anlian.dossiers import views

app_name = "dossiers"

# Keyword names are fixed (instance_id, export_id, link_id, account_id, token) for the scoping matrix.
urlpatterns = [
    # desktop, logged in (VIEW over the job)
    path("dossiers/<int:instance_id>/", views.dossier, name="dossier"),
    path("dossiers/<int:instance_id>/pdf/", views.export_start, name="export_start"),
    path("dossiers/<int:instance_id>/share/", views.share_create, name="share_create"),
    path("dossiers/exports/<int:export_id>/", views.export_status, name="export"),
    path("dossiers/exports/<int:export_id>/download/", views.export_download, name="export_download"),
    path("dossiers/exports/<int:export_id>/bundle/", views.export_bundle, name="export_bundle"),
    path("dossiers/share-links/<int:link_id>/revoke/", views.share_revoke, name="share_revoke"),
    # public: a share link (phone layout, this one job only) and the verify page of the QR code
    path("dossiers/s/<str:token>/", views.shared, name="shared"),
    path("dossiers/s/<str:token>/photos/<int:event_id>/<str:sha256>/", views.shared_photo, name="shared_photo"),
    path("verify/<str:token>/", views.verify, name="verify"),
    # a company administrator's regulator accounts
    path("regulator/accounts/", views.regulators, name="regulators"),
    path("regulator/accounts/<int:account_id>/revoke/", views.regulator_revoke, name="regulator_revoke"),
]
