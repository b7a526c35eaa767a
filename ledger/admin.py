import re
import uuid

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db import models
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, path, reverse
from django.utils.html import format_html

from ledger.models import AppToken, BanRecord, LedgerEntry, RewardUser
from ledger.services import RECLAIM_WINDOW, adjust_balance, release_install, revoke_app_token, set_ban
from rewardhub.admin_export import CsvExportMixin
from rewardhub.admin_volume import ChoicesListFilter, VolumeAdminMixin
from rewardhub.unlogged import UnloggedStr

ENTRIES_PER_USER_PAGE = 50  # keeps a user's page small (well under 200 KB) whatever their history

# What caused an entry (its `reference`) → the admin page of that event.
REFERENCE_PAGES = {
    "user_postbacks": "admin:postbacks_userpostback_change",
    "offer_conversions": "admin:postbacks_offerconversion_change",
}


class ReadOnlyAdminMixin:
    """History is never edited from the admin: corrections are new entries."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def reference_link(entry: LedgerEntry):
    """The reference as a link to the event behind the entry (a postback, an offer event, the staff member)."""
    table, _, event_id = entry.reference.partition(":")
    if table == "staff":
        return f"adjustment by {entry.created_by or 'staff'}"
    try:
        url = reverse(REFERENCE_PAGES[table], args=[int(event_id)])
    except (KeyError, ValueError, NoReverseMatch):
        return entry.reference
    return format_html('<a href="{}">{}</a>', url, entry.reference)


def reference_keys(term: str) -> list[str]:
    """A reference as support pastes it → the entries' idempotency keys (a unique index; `reference` has none)."""
    if match := re.fullmatch(r"user_postbacks:(\d{1,18})", term):
        return [f"partner_postback:{match[1]}"]
    if match := re.fullmatch(r"offer_conversions:(\d{1,18})", term):
        return [f"offer_conversions:{match[1]}:{bucket}" for bucket in LedgerEntry.Bucket]
    return []


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


class NetworkBanFilter(ChoicesListFilter):
    title = "network ban state"
    parameter_name = "network_ban_state"
    options = [("BANNED", "Banned by a network"), ("ACTIVE", "Reported active")]


@admin.register(RewardUser)
class RewardUserAdmin(VolumeAdminMixin, admin.ModelAdmin):
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
        NetworkBanFilter,
        "created_at",
    ]
    exact_search_fields = ("id", "device_id")
    sortable_by = ("created_at",)
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
    inlines = [BanRecordInline, AppTokenInline]
    list_select_related = ["store_app"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "store_app", "device_id"] if obj else self.readonly_fields

    @admin.display(boolean=True, description="install secret recorded")
    def install_secret_recorded(self, obj):
        """Without one, re-registering this device needs a valid app token of the user."""
        return bool(obj.install_secret_hash)

    def change_view(self, request, object_id, form_url="", extra_context=None):
        """The ledger is paged here (50 entries a page); the whole history is in the ledger list, filtered."""
        try:
            object_id = str(uuid.UUID(object_id))
        except ValueError:  # Django's own answer: "doesn't exist", back to the list
            return super().change_view(request, object_id, form_url, extra_context)
        entries = LedgerEntry.objects.filter(user_id=object_id).select_related("created_by").order_by("-id")
        page = Paginator(entries, ENTRIES_PER_USER_PAGE).get_page(request.GET.get("entries_page"))
        context = {
            "entries_page": page,
            "entry_rows": [(entry, reference_link(entry)) for entry in page],
            "ledger_url": reverse("admin:ledger_ledgerentry_changelist") + f"?user__id__exact={object_id}",
            # Every field of an existing user is read-only: what changes them are the buttons above.
            **dict.fromkeys(["show_save", "show_save_and_continue", "show_save_and_add_another", "show_delete"], False),
        }
        return super().change_view(request, object_id, form_url, {**context, **(extra_context or {})})

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


class KindFilter(ChoicesListFilter):
    title = "kind"
    parameter_name = "kind"
    options = LedgerEntry.Kind.choices

    def queryset(self, request, queryset):
        queryset = super().queryset(request, queryset)
        if self.value() == LedgerEntry.Kind.ADJUSTMENT:  # rare among millions: their partial index finds them
            queryset = queryset.filter(created_by__isnull=False)
        return queryset


@admin.register(LedgerEntry)
class LedgerEntryAdmin(CsvExportMixin, VolumeAdminMixin, ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "user_link", "amount", "bucket", "balance_after", "kind", "reference_link"]
    list_filter = [KindFilter, "bucket", "created_at"]
    exact_search_fields = ("pk", "user__id", "user__device_id", "key")
    list_select_related = ["user", "created_by"]
    raw_id_fields = ["user", "reverses"]
    sortable_by = ("id",)

    def lookup_allowed(self, lookup, value, request=None):
        return lookup == "user__id__exact" or super().lookup_allowed(lookup, value, request)

    def term_query(self, term):
        """Also a reference, found through the keys its entries carry."""
        query = super().term_query(term)
        return query | models.Q(key__in=keys) if (keys := reference_keys(term)) else query

    @admin.display(description="user")
    def user_link(self, obj):
        url = reverse("admin:ledger_rewarduser_change", args=[obj.user_id])
        return format_html('<a href="{}" title="{}">{}</a>', url, obj.user_id, obj.user.device_id[:24])

    @admin.display(description="reference")
    def reference_link(self, obj):
        return reference_link(obj)


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
