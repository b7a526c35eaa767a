from django.urls import path

from postbacks.partner.app_api import AppPostbackAckApi, AppPostbackListApi

urlpatterns = [
    path("me/postbacks", AppPostbackListApi.as_view(), name="app-postbacks"),
    path("me/postbacks/ack", AppPostbackAckApi.as_view(), name="app-postbacks-ack"),
]
