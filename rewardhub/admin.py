import ipaddress

from django.contrib import admin
from django.db import models
from django.urls import reverse
from django.utils.html import format_html

from ledger.admin import ReadOnlyAdminMixin
from rewardhub.admin_export import CsvExportMixin
from rewardhub.admin_volume import VolumeAdminMixin
from rewardhub.models import RefusedCall
from rewardhub.refused_calls import recorded_codes


class CodeFilter(admin.SimpleListFilter):
    """The codes recorded so far, read from the (code, id) index: no SELECT DISTINCT over millions of rows."""

    title = "code"
    parameter_name = "code"

    def lookups(self, request, model_admin):
        return [(code, code) for code in recorded_codes()]

    def queryset(self, request, queryset):
        return queryset.filter(code=self.value()) if self.value() else queryset


@admin.register(RefusedCall)
class RefusedCallAdmin(CsvExportMixin, VolumeAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    """Why a partner's or a giveaway host's calls fail: find them by pid, user id or track_id, or IP."""

    list_display = ["created_at", "source", "code", "status", "pid", "user_id", "subject", "source_ip", "message"]
    list_display_links = ["created_at"]
    list_filter = ["source", CodeFilter, "created_at"]
    exact_search_fields = ("pk", "pid", "user_id", "giveaway_id")
    search_help_text = "Exact partner pid, user id or track_id, source IP, giveaway id or row id."
    sortable_by = ("id",)
    csv_fields = [
        "id",
        "created_at",
        "source",
        "code",
        "status",
        "message",
        "source_ip",
        "path",
        "pid",
        "giveaway_id",
        "user_id",
        "gid",
        "level_number",
        "event",
    ]
    fields = csv_fields
    readonly_fields = fields

    def term_query(self, term):
        """An address is looked up alone, down the (source_ip, id) index: ORed with the other columns, the planner
        may walk the whole table newest first looking for a rare one."""
        try:
            return models.Q(source_ip=str(ipaddress.ip_address(term)))
        except ValueError:
            return super().term_query(term)

    @admin.display(description="about")
    def subject(self, obj):
        """What the call was about: a game and level, or a giveaway (linked) and its event."""
        if obj.giveaway_id is not None:
            url = reverse("admin:giveaways_giveaway_change", args=[obj.giveaway_id])
            event = f", event {obj.event}" if obj.event else ""
            return format_html('<a href="{}">giveaway #{}</a>{}', url, obj.giveaway_id, event)
        if obj.gid:
            return f"{obj.gid} level {obj.level_number}"
        return "-"
