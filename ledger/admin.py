from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from ledger.models import AppToken, BanRecord, LedgerEntry, RewardUser
from ledger.services import RECLAIM_WINDOW, adjust_balance, release_install, revoke_app_token, set_ban
from rewardhub.admin_export import CsvExportMixin
from rewardhub.unlogged import UnloggedStr


class ReadOnlyAdminMixin:
    """History is never edited from the admin: corrections are new entries."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class LedgerEntryInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = LedgerEntry
    fk_name = "user"
    fields = ["created_at", "amount", "bucket", "balance_after", "kind", "reference", "note", "created_by"]
    readonly_fields = fields
    ordering = ["-id"]
    extra = 0
    show_change_link = True


class BanRecordInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = BanRecord
    fields = ["created_at", "action", "reason", "staff"]
    readonly_fields = fields
    extra = 0
    verbose_name_plural = "ban history"


class AppTokenInline(ReadOnlyAdminMixin, admin.TabularInline):
    model = AppToken
    fields = ["prefix", "created_at", "last_used_at", "revoked_at", "revoked_by"]
    readonly_fields = fields
    extra = 0
    show_change_link = True
    verbose_name_plural = "app tokens (revoke them from the app token list)"


class BanForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded with your name.")


class AdjustBalanceForm(forms.Form):
    amount = forms.IntegerField(help_text="Coins to add; negative to remove.")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded with the entry and your name."
    )

    def clean_amount(self):
        if self.cleaned_data["amount"] == 0:
            raise forms.ValidationError("An adjustment must move at least one coin.")
        return self.cleaned_data["amount"]


class BalanceSignFilter(admin.SimpleListFilter):
    """Support looks for users a reversal left below zero."""

    title = "balance"
    parameter_name = "balance"

    def lookups(self, request, model_admin):
        return [("negative", "Negative"), ("held", "Has held coins")]

    def queryset(self, request, queryset):
        if self.value() == "negative":
            return queryset.filter(coins__lt=0)
        if self.value() == "held":
            return queryset.exclude(held_coins=0)
        return queryset


@admin.register(RewardUser)
class RewardUserAdmin(admin.ModelAdmin):
    @admin.display(boolean=True, description="banned")
    def is_banned(self, obj):
        return obj.is_banned

    list_display = [
        "id",
        "device_id",
        "store_app",
        "coins",
        "held_coins",
        "is_banned",
        "network_ban_state",
        "created_at",
    ]
    list_filter = [
        "store_app",
        BalanceSignFilter,
        ("banned_at", admin.EmptyFieldListFilter),
        "network_ban_state",
        "created_at",
    ]
    search_fields = ["=id", "device_id"]
    readonly_fields = [
        "id",
        "coins",
        "held_coins",
        "install_secret_recorded",
        "reclaimable_until",
        "created_at",
        "banned_at",
        "ban_reason",
        "network_ban_state",
        "network_ban_reason",
        "network_ban_source",
        "network_ban_updated_at",
    ]
    fields = [
        "id",
        "store_app",
        "device_id",
        "coins",
        "held_coins",
        "install_secret_recorded",
        "reclaimable_until",
        "created_at",
        "banned_at",
        "ban_reason",
        "network_ban_state",
        "network_ban_reason",
        "network_ban_source",
        "network_ban_updated_at",
    ]
    inlines = [LedgerEntryInline, BanRecordInline, AppTokenInline]
    list_select_related = ["store_app"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "store_app", "device_id"] if obj else self.readonly_fields

    @admin.display(boolean=True, description="install secret recorded")
    def install_secret_recorded(self, obj):
        """Without one, re-registering this device needs a valid app token of the user."""
        return bool(obj.install_secret_hash)

    def get_urls(self):
        adjust = self.admin_site.admin_view(self.adjust_balance_view)
        ban = self.admin_site.admin_view(self.ban_view)
        release = self.admin_site.admin_view(self.release_install_view)
        return [
            path("<uuid:user_id>/adjust/", adjust, name="ledger_rewarduser_adjust"),
            path("<uuid:user_id>/ban/", ban, name="ledger_rewarduser_ban"),
            path("<uuid:user_id>/release-install/", release, name="ledger_rewarduser_release_install"),
            *super().get_urls(),
        ]

    def adjust_balance_view(self, request, user_id):
        """Staff correction: a new ledger entry with amount, reason and who made it."""
        user = self.get_object(request, str(user_id))
        if user is None:
            return redirect("admin:ledger_rewarduser_changelist")
        if not request.user.has_perm("ledger.add_ledgerentry"):
            raise PermissionDenied
        form = AdjustBalanceForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            entry = adjust_balance(user=user, staff=request.user, **form.cleaned_data)
            self.log_change(request, user, f"Adjusted balance by {entry.amount:+d}: {entry.note}")
            self.message_user(request, f"Balance adjusted by {entry.amount:+d} to {entry.balance_after}.")
            return redirect(reverse("admin:ledger_rewarduser_change", args=[user.pk]))
        intro = (
            f"Current balance: {user.coins} coins. The adjustment is written to the ledger as a new entry "
            "with your name and the reason; it cannot be edited afterwards."
        )
        return self._staff_action_page(request, user, form, f"Adjust balance of {user.id}", intro)

    def ban_view(self, request, user_id):
        """Ban a user (or lift the ban): their API calls get 403 and postbacks credit nothing."""
        user = self.get_object(request, str(user_id))
        if user is None:
            return redirect("admin:ledger_rewarduser_changelist")
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        banning = not user.is_banned
        form = BanForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            if set_ban(user=user, banned=banning, reason=reason, staff=request.user):
                self.log_change(request, user, f"{'Banned' if banning else 'Unbanned'}: {reason}")
                self.message_user(request, f"User {'banned' if banning else 'unbanned'}.")
            return redirect(reverse("admin:ledger_rewarduser_change", args=[user.pk]))
        intro = (
            "A banned user's app calls are refused and partner postbacks are stored without credit."
            if banning
            else f"Banned since {user.banned_at:%Y-%m-%d %H:%M} for: {user.ban_reason}"
        )
        return self._staff_action_page(request, user, form, f"{'Ban' if banning else 'Unban'} {user.id}", intro)

    def release_install_view(self, request, user_id):
        """A reinstall that lost its install secret and token cannot take its user back by itself: support, after
        checking who is asking, gets a one-time code for the owner to enter in the app (shown once, never stored)."""
        user = self.get_object(request, str(user_id))
        if user is None:
            return redirect("admin:ledger_rewarduser_changelist")
        if not self.has_change_permission(request, user):
            raise PermissionDenied
        hours = int(RECLAIM_WINDOW.total_seconds() // 3600)
        form = BanForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            reason = form.cleaned_data["reason"]
            code = UnloggedStr(release_install(user=user, reason=reason, staff=request.user))  # shown once
            self.log_change(request, user, f"Released the install for re-registration: {reason}")
            context = {**self.admin_site.each_context(request), "opts": self.opts, "original": user, "code": code}
            context.update(title=f"Reclaim code for {user.id}", hours=hours)
            return TemplateResponse(request, "admin/ledger/rewarduser/reclaim_code.html", context)
        intro = (
            f"Every app token of this user is revoked, and you get a one-time code, valid for {hours} hours, for the "
            f"owner to enter in the app: its next registration of device '{user.device_id}' then gets this user and "
            f"their {user.coins} coins back. Give it only to someone you are sure owns the device."
        )
        return self._staff_action_page(request, user, form, f"Release the install of {user.id}", intro)

    def _staff_action_page(self, request, user, form, title, intro):
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "original": user,
            "form": form,
            "title": title,
            "intro": intro,
        }
        return TemplateResponse(request, "admin/ledger/rewarduser/staff_action.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(CsvExportMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "user", "amount", "bucket", "balance_after", "kind", "reference", "created_by"]
    list_filter = ["kind", "bucket", "created_at"]
    search_fields = ["=user__id", "user__device_id", "reference", "key"]
    list_select_related = ["user", "created_by"]
    raw_id_fields = ["user", "reverses"]


@admin.register(AppToken)
class AppTokenAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    """Tokens are issued by the app's registration; staff can only revoke them."""

    list_display = ["prefix", "user", "is_active", "created_at", "last_used_at", "revoked_at", "revoked_by"]
    list_filter = [("revoked_at", admin.EmptyFieldListFilter), "created_at"]
    search_fields = ["prefix", "=user__id", "user__device_id"]
    list_select_related = ["user", "revoked_by"]
    fields = ["prefix", "user", "created_at", "last_used_at", "revoked_at", "revoked_by"]
    readonly_fields = fields
    actions = ["revoke"]

    @admin.display(boolean=True, description="active")
    def is_active(self, obj):
        return obj.is_active

    def has_revoke_permission(self, request):
        return request.user.has_perm("ledger.change_apptoken")

    @admin.action(description="Revoke selected app tokens", permissions=["revoke"])
    def revoke(self, request, queryset):
        revoked = sum(revoke_app_token(token=token, revoked_by=request.user) for token in queryset)
        self.message_user(request, f"Revoked {revoked} app token(s).", messages.SUCCESS)
