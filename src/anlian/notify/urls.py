from django.urls import path

from anlian.notify import views

app_name = "notify"

# Mounted at /notifications/: delivery_id names a Delivery, channel_id a Channel, company_id a
# company (OrgUnit of kind company), kind a channel kind (dingtalk, wecom, feishu, email,
# sms_aliyun, sms_http, webhook).
urlpatterns = [
    path("deliveries/", views.deliveries, name="deliveries"),
    path("deliveries/<int:delivery_id>/", views.delivery_detail, name="delivery"),
    path("deliveries/<int:delivery_id>/resend/", views.delivery_resend, name="delivery_resend"),
    path("channels/", views.channels, name="channels"),
    path("channels/new/<int:company_id>/<slug:channel_kind>/", views.channel_new, name="channel_new"),
    path("channels/<int:channel_id>/", views.channel_edit, name="channel_edit"),
    path("channels/<int:channel_id>/test/", views.channel_test, name="channel_test"),
]
