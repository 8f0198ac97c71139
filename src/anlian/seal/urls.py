from django.urls import path

from anlian.seal import views

app_name = "seal"

# Mounted at the root: company_id names a company (OrgUnit of kind company); ?company=<id> on the
# list chooses one of the companies the user sees.
urlpatterns = [
    path(".well-known/anlian-seal-key.pem", views.public_key_pem, name="public_key"),
    path("seal/", views.checkpoints, name="checkpoints"),
    path("seal/<int:company_id>/seal/", views.seal_now, name="seal_now"),
]
