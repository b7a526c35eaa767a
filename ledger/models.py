import uuid

from django.conf import settings
from django.db import models

from catalog.models import StoreApp


class RewardUser(models.Model):
    """A person using a reward app (the seed's `users`). `coins` caches the sum of their ledger entries."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No index of its own: the unique (store_app, device_id) index starts with it.
    store_app = models.ForeignKey(StoreApp, on_delete=models.PROTECT, related_name="users", db_index=False)
    device_id = models.CharField(max_length=255)
    install_secret_hash = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="SHA-256 of the secret the app generated at its first launch: re-registering the device needs it "
        "(or a valid app token of this user).",
    )
    reclaim_code_hash = models.CharField(
        max_length=64,
        blank=True,
        editable=False,
        help_text="SHA-256 of the one-time code support gave the owner of a reinstall that lost its install secret "
        "and token: one registration of this device that sends it gets the user back.",
    )
    reclaimable_until = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="Until when the reclaim code is valid."
    )
    coins = models.BigIntegerField(
        default=0, editable=False, help_text="Cached sum of the user's available-coin ledger entries: spendable."
    )
    held_coins = models.BigIntegerField(
        default=0,
        editable=False,
        help_text="Cached sum of the user's held ledger entries: pending, not spendable.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    banned_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="Set by an operator's ban.")
    ban_reason = models.TextField(blank=True, editable=False)
    # What an offer network last told us about this user; informs support, blocks nothing by itself.
    network_ban_state = models.CharField(max_length=16, blank=True, editable=False)
    network_ban_reason = models.TextField(blank=True, editable=False)
    network_ban_source = models.CharField(
        max_length=200, blank=True, editable=False, help_text="The offerwall integration that reported it."
    )
    network_ban_updated_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        db_table = "users"
        ordering = ["-created_at"]
        verbose_name = "reward user"
        constraints = [
            models.UniqueConstraint(fields=["store_app", "device_id"], name="uniq_user_device_per_app"),
        ]
        # The console's lists and searches at a million users. None covers `coins`: credits update it, and an
        # indexed column would stop those updates from being HOT (every index written on every credit).
        indexes = [
            models.Index(fields=["created_at", "id"], name="user_recent"),  # the list's order, newest first
            models.Index(fields=["device_id"], name="user_device_id"),  # support's search across store apps
            models.Index(fields=["banned_at"], condition=models.Q(banned_at__isnull=False), name="user_banned"),
            models.Index(
                fields=["network_ban_state"], condition=~models.Q(network_ban_state=""), name="user_network_ban"
            ),
        ]

    def __str__(self):
        return f"{self.id} ({self.device_id})"

    @property
    def is_banned(self) -> bool:
        return self.banned_at is not None


class BanRecord(models.Model):
    """Who banned or unbanned a user, when and why: the audit trail behind `RewardUser.banned_at`."""

    class Action(models.TextChoices):
        BAN = "ban", "Banned"
        UNBAN = "unban", "Unbanned"

    user = models.ForeignKey(RewardUser, on_delete=models.PROTECT, related_name="ban_records")
    action = models.CharField(max_length=8, choices=Action.choices)
    reason = models.TextField()
    staff = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"{self.get_action_display()} by {self.staff} at {self.created_at:%Y-%m-%d %H:%M}"


class LedgerEntry(models.Model):
    """One immutable movement of coins. Corrections are new entries, never edits."""

    class Kind(models.TextChoices):
        PARTNER_POSTBACK = "partner_postback", "Partner game milestone"
        ADJUSTMENT = "adjustment", "Staff adjustment"
        OFFER_HOLD = "offer_hold", "Offer pending (held)"
        OFFER_HOLD_RELEASE = "offer_hold_release", "Offer hold released"
        OFFER_CREDIT = "offer_credit", "Offer completed"
        OFFER_REVERSAL = "offer_reversal", "Offer reversed"

    class Bucket(models.TextChoices):
        AVAILABLE = "available", "Available"
        HELD = "held", "Held"

    # Indexes are chosen for an append-heavy table: each one is written on every credit.
    user = models.ForeignKey(RewardUser, on_delete=models.PROTECT, related_name="entries", db_index=False)
    amount = models.BigIntegerField(help_text="Signed: credits are positive, debits and reversals negative.")
    kind = models.CharField(max_length=32, choices=Kind.choices)
    bucket = models.CharField(
        max_length=16,
        choices=Bucket.choices,
        default=Bucket.AVAILABLE,
        help_text="Which balance it moves: available (spendable) or held (pending).",
    )
    reference = models.CharField(max_length=200, help_text="What caused it, e.g. user_postbacks:42.")
    key = models.CharField("idempotency key", max_length=200)
    balance_after = models.BigIntegerField(help_text="The balance of this entry's bucket after it.")
    reverses = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="reversals", db_index=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        db_index=False,
        help_text="The staff member, for manual adjustments.",
    )
    note = models.TextField(blank=True, help_text="The reason given for a manual adjustment.")
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "ledger_entries"
        ordering = ["-id"]
        verbose_name = "ledger entry"
        verbose_name_plural = "ledger entries"
        indexes = [
            models.Index(fields=["user", "-id"], name="ledger_entry_user_recent"),  # also serves the user FK
            # Only reversals and staff adjustments fill these: partial indexes cost nothing on other entries.
            models.Index(fields=["reverses"], condition=models.Q(reverses__isnull=False), name="ledger_entry_reverses"),
            models.Index(
                fields=["created_by"], condition=models.Q(created_by__isnull=False), name="ledger_entry_created_by"
            ),
            # Support lists reversals (a few in a thousand entries) newest first.
            models.Index(fields=["id"], condition=models.Q(kind="offer_reversal"), name="ledger_entry_offer_reversal"),
        ]
        constraints = [
            # A constraint rather than unique=True: no extra LIKE-pattern index on PostgreSQL.
            models.UniqueConstraint(fields=["key"], name="ledger_entry_key_unique"),
            models.CheckConstraint(condition=~models.Q(amount=0), name="ledger_entry_amount_not_zero"),
            models.CheckConstraint(
                condition=models.Q(bucket__in=["available", "held"]), name="ledger_entry_bucket_known"
            ),
        ]

    def __str__(self):
        held = " (held)" if self.bucket == self.Bucket.HELD else ""
        return f"{self.amount:+d}{held} {self.get_kind_display()} → {self.balance_after}"


class AppToken(models.Model):
    """A bearer token the reward app uses for its own API, issued at registration. Only its SHA-256 is stored."""

    user = models.ForeignKey(RewardUser, on_delete=models.PROTECT, related_name="app_tokens")
    prefix = models.CharField(max_length=12, help_text="The token's first characters, to recognise it.")
    token_hash = models.CharField(max_length=64, unique=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )

    class Meta:
        db_table = "app_tokens"
        ordering = ["-created_at"]
        verbose_name = "app token"

    def __str__(self):
        return f"{self.prefix}… ({self.user_id})"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
