from django.urls import path

from ledger.api import (
    AppEntryListApi,
    AppGameListApi,
    AppMeApi,
    AppPostbackAckApi,
    AppPostbackListApi,
    AppUserRegisterApi,
)

urlpatterns = [
    path("users", AppUserRegisterApi.as_view(), name="app-register"),
    path("me", AppMeApi.as_view(), name="app-me"),
    path("me/entries", AppEntryListApi.as_view(), name="app-entries"),
    path("me/postbacks", AppPostbackListApi.as_view(), name="app-postbacks"),
    path("me/postbacks/ack", AppPostbackAckApi.as_view(), name="app-postbacks-ack"),
    path("games", AppGameListApi.as_view(), name="app-games"),
]
