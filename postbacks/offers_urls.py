from django.urls import path

from postbacks.offers_api import OfferCallbackApi

urlpatterns = [
    path("callbacks/<str:slug>", OfferCallbackApi.as_view(), name="offer-callback"),
]
