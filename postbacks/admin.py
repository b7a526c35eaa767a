from django.contrib import admin

from ledger.admin import ReadOnlyAdminMixin
from postbacks.models import UserPostback


@admin.register(UserPostback)
class UserPostbackAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "user", "game", "pid", "level_number", "awarded", "coin_delta", "applied_at"]
    list_filter = ["awarded", ("applied_at", admin.EmptyFieldListFilter), "game", "pid", "created_at"]
    search_fields = ["=user__id", "user__device_id", "game__gid"]
    list_select_related = ["user", "game"]
