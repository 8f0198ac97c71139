from django.urls import include, path

app_name = "workforce"

# One module per part (contractors, certificates and violations, imports, badges).
urlpatterns = [
    path("contractors/", include("anlian.workforce.urls_contractors")),
    path("qualifications/", include("anlian.workforce.urls_certificates")),
    path("imports/", include("anlian.workforce.urls_imports")),
    path("badges/", include("anlian.workforce.urls_badges")),
]
