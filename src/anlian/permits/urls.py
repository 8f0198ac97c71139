from django.urls import path

app_name = "permits"

urlpatterns: list = []
