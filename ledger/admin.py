from django import forms
from django.contrib import admin, messages
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from ledger.models import LedgerEntry, RewardUser
from ledger.services import adjust_balance


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
    fields = ["created_at", "amount", "balance_after", "kind", "reference", "note", "created_by"]
    readonly_fields = fields
    ordering = ["-id"]
    extra = 0
    show_change_link = True


class AdjustBalanceForm(forms.Form):
    amount = forms.IntegerField(help_text="Coins to add; negative to remove.")
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}), help_text="Recorded with the entry and your name."
    )

    def clean_amount(self):
        if self.cleaned_data["amount"] == 0:
            raise forms.ValidationError("An adjustment must move at least one coin.")
        return self.cleaned_data["amount"]


@admin.register(RewardUser)
class RewardUserAdmin(admin.ModelAdmin):
    list_display = ["id", "device_id", "store_app", "coins", "created_at"]
    list_filter = ["store_app", "created_at"]
    search_fields = ["=id", "device_id"]
    readonly_fields = ["id", "coins", "created_at"]
    fields = ["id", "store_app", "device_id", "coins", "created_at"]
    inlines = [LedgerEntryInline]
    list_select_related = ["store_app"]

    def get_readonly_fields(self, request, obj=None):
        return [*self.readonly_fields, "store_app", "device_id"] if obj else self.readonly_fields

    def get_urls(self):
        adjust = self.admin_site.admin_view(self.adjust_balance_view)
        return [path("<uuid:user_id>/adjust/", adjust, name="ledger_rewarduser_adjust"), *super().get_urls()]

    def adjust_balance_view(self, request, user_id):
        """Staff correction: a new ledger entry with amount, reason and who made it."""
        user = self.get_object(request, str(user_id))
        if user is None or not request.user.has_perm("ledger.add_ledgerentry"):
            return redirect("admin:ledger_rewarduser_changelist")
        form = AdjustBalanceForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            entry = adjust_balance(user=user, staff=request.user, **form.cleaned_data)
            self.log_change(request, user, f"Adjusted balance by {entry.amount:+d}: {entry.note}")
            self.message_user(
                request, f"Balance adjusted by {entry.amount:+d} to {entry.balance_after}.", messages.SUCCESS
            )
            return redirect(reverse("admin:ledger_rewarduser_change", args=[user.pk]))
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "user_obj": user,
            "form": form,
            "title": f"Adjust balance of {user.id}",
        }
        return TemplateResponse(request, "admin/ledger/rewarduser/adjust.html", context)


@admin.register(LedgerEntry)
class LedgerEntryAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):
    list_display = ["id", "created_at", "user", "amount", "balance_after", "kind", "reference", "created_by"]
    list_filter = ["kind", "created_at"]
    search_fields = ["=user__id", "user__device_id", "reference", "key"]
    list_select_related = ["user", "created_by"]
    raw_id_fields = ["user", "reverses"]
