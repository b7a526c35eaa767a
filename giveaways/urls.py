from django.urls import path

from giveaways import api, views

app_name = "giveaways"

urlpatterns = [
    # The original platform's paths, so migrating hosts only change the base URL.
    path("public/v1/giveaway/task/callback", api.TaskCallbackApi.as_view(), name="task-callback"),
    path("public/v1/giveaway/player/status", api.PlayerStatusApi.as_view(), name="player-status"),
    path("public/v1/giveaway/prize/callback", api.PrizeCallbackApi.as_view(), name="prize-callback"),
    path("g/<slug:slug>", views.giveaway_page, name="page"),
    path("g/<slug:slug>/join", views.join, name="join"),
    path("g/<slug:slug>/tasks/<int:task_id>", views.task_redirect, name="task"),
    path("g/<slug:slug>/fairness", views.fairness_page, name="fairness"),
    path("g/<slug:slug>/claim", views.claim_page, name="claim"),
]
