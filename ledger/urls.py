from django.urls import path

from ledger.api import (
    AppEntryListApi,
    AppGameListApi,
    AppUserRegisterApi,
)

urlpatterns = [
    path("users", AppUserRegisterApi.as_view(), name="app-register"),
    path("me/entries", AppEntryListApi.as_view(), name="app-entries"),
    path("games", AppGameListApi.as_view(), name="app-games"),
]
