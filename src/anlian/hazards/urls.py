from django.urls import include, path

app_name = "hazards"

# One module per part: pages (report, detail, dispatch rules), timers (deadline policies),
# ledger (ledger, export, import), supervision (督办).
urlpatterns = [
    path("", include("anlian.hazards.urls_pages")),
    path("deadlines/", include("anlian.hazards.urls_timers")),
    path("ledger/", include("anlian.hazards.urls_ledger")),
    path("supervision/", include("anlian.hazards.urls_supervision")),
]
