import secrets
from decimal import Decimal

from django.conf import settings
from django.contrib.postgres.indexes import BrinIndex
from django.db import models
from django.db.models.functions import Now

from catalog.models import RewardGame, StoreApp
from ledger.models import LedgerEntry, RewardUser
from postbacks.offers.networks import provider_choices
from postbacks.offers.networks.base import Action, Verdict
from rewardhub.crypto import EncryptedTextField
from rewardhub.ip_allowlist import validate_allowlist

MAX_LEVEL = 2_147_483_647  # the column is a 32-bit integer


class UserPostback(models.Model):
    """A level a partner game reported (the seed's `user_postbacks`); the first report of a level wins."""

    # The unique (user, game, level) index leads with the user, so the user FK needs no index of its own.
    user = models.ForeignKey(RewardUser, on_delete=models.PROTECT, related_name="postbacks", db_index=False)
    game = models.ForeignKey(RewardGame, on_delete=models.PROTECT, related_name="postbacks")
    pid = models.CharField(max_length=64)
    # Not a PositiveIntegerField: its CHECK (>= 0) would be a second one, implied by postback_level_positive, that
    # every insert evaluates.
    level_number = models.IntegerField()
    awarded = models.BooleanField()
    coin_delta = models.IntegerField()
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(db_default=Now())
    applied_at = models.DateTimeField(
        null=True, blank=True, editable=False, help_text="When the reward app acknowledged applying it."
    )

    class Meta:
        db_table = "user_postbacks"
        ordering = ["-id"]
        verbose_name = "partner postback"
        constraints = [
            models.UniqueConstraint(fields=["user", "game", "level_number"], name="uniq_postback_user_game_level"),
            models.CheckConstraint(condition=models.Q(level_number__gte=1), name="postback_level_positive"),
        ]
        indexes = [
            # The console's traffic of the last 24 hours. BRIN: a few pages for the whole append-only table,
            # nearly free to maintain (acknowledging, which sets applied_at, is not HOT anyway: see below).
            BrinIndex(fields=["created_at"], name="user_postback_created_brin"),
            # The app's sync query: this user's postbacks it has not applied yet, oldest first.
            models.Index(fields=["user", "id"], condition=models.Q(applied_at=None), name="user_postback_unapplied"),
        ]

    def __str__(self):
        return f"{self.game_id} level {self.level_number} for {self.user_id}"


def new_callback_slug() -> str:
    """Unguessable: the slug is the only thing in a callback URL that names the integration."""
    return secrets.token_urlsafe(24)


class OfferwallIntegration(models.Model):
    """One store app's account with an offer network, reached at /api/callbacks/<slug>."""

    provider = models.CharField(max_length=32, choices=provider_choices)
    name = models.CharField(max_length=100, help_text="For operators, e.g. 'BitLabs (Android)'.")
    store_app = models.ForeignKey(StoreApp, on_delete=models.PROTECT, related_name="offerwall_integrations")
    slug = models.CharField(max_length=64, unique=True, default=new_callback_slug, editable=False)
    secret = EncryptedTextField(help_text="The network's app secret, used to check signatures. Encrypted at rest.")
    ip_allowlist = models.TextField(
        "IP allowlist",
        blank=True,
        validators=[validate_allowlist],
        help_text="Addresses or CIDR ranges, one per line. Empty: accept callbacks from any address.",
    )
    coin_rate = models.DecimalField(
        max_digits=12,
        decimal_places=4,
        default=Decimal(1),
        help_text="Coins per unit of the network's currency; rounded half-up to whole coins.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "offerwall_integrations"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(condition=models.Q(coin_rate__gt=0), name="offerwall_coin_rate_positive"),
        ]

    def __str__(self):
        return f"{self.name} ({self.get_provider_display()})"


class CallbackLog(models.Model):
    """What the delivery log keeps of each callback besides its outcome: the request as sent and our answer."""

    method = models.CharField(max_length=8)
    path = models.CharField(max_length=300)
    query = models.TextField("raw query", blank=True)
    body = models.TextField(blank=True, db_default="", help_text="As sent, for networks that post a JSON or form body.")
    source_ip = models.GenericIPAddressField("source IP", null=True, blank=True)
    message = models.TextField(blank=True, help_text="Why the verdict, or what the callback did.")
    # The status we answered, never input: not a PositiveSmallIntegerField, whose CHECK every insert would run.
    response_status = models.SmallIntegerField(null=True, blank=True)
    response_body = models.TextField(blank=True)

    class Meta:
        abstract = True


CALLBACK_LOG_FIELDS = frozenset(field.name for field in CallbackLog._meta.fields)


class DeliveryFields(CallbackLog):
    """A delivery's log with its outcome, as both the deliveries' table and the log's view (OfferDelivery) hold it."""

    received_at = models.DateTimeField(db_default=Now(), db_index=True)
    verdict = models.CharField(max_length=16, choices=Verdict.choices, default=Verdict.RECEIVED)
    transaction_id = models.CharField(max_length=200, blank=True)

    class Meta:
        abstract = True

    def __str__(self):
        return f"Delivery #{self.pk}: {self.get_verdict_display()} at {self.received_at:%Y-%m-%d %H:%M:%S %Z}"


class DeliveryWithoutConversion(DeliveryFields):
    """A callback that recorded no conversion (a refusal, a duplicate, a test, a ban callback, a failure), written
    with its outcome in the same statement (a failed one with verdict `received`). An accepted callback's log is
    its conversion's own columns: one row per accepted event, not two. Kept for OFFER_DELIVERY_RETENTION_DAYS
    (postbacks.retention); support reads both through OfferDelivery."""

    # No index of its own: the (integration, transaction id) index starts with it.
    integration = models.ForeignKey(OfferwallIntegration, on_delete=models.PROTECT, related_name="+", db_index=False)
    user = models.ForeignKey(RewardUser, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        db_table = "offer_deliveries_without_conversion"
        indexes = [
            # The review queue counts recent forgeries; partial, so no other delivery pays for it.
            models.Index(
                fields=["received_at"], condition=models.Q(verdict=Verdict.FORGED), name="offer_delivery_forged"
            ),
            # Support's search by transaction id, refused deliveries included (they record no conversion).
            models.Index(fields=["integration", "transaction_id"], name="offer_delivery_transaction"),
        ]


class OfferDelivery(DeliveryFields):
    """Every callback an integration received, refused ones included, so support sees each attempt: a view
    (postbacks migration 0017) of the deliveries that recorded no conversion and the accepted ones, whose log their
    conversion carries. Read-only; ids come from one sequence, so they are unique across both. The view names
    these fields' columns in both tables: a migration that changes one drops and re-creates it."""

    integration = models.ForeignKey(
        OfferwallIntegration, on_delete=models.PROTECT, related_name="deliveries", db_constraint=False
    )
    user = models.ForeignKey(
        RewardUser,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="offer_deliveries",
        db_constraint=False,
    )

    class Meta:
        managed = False
        db_table = "offer_deliveries"
        ordering = ["-id"]
        verbose_name = "offer callback delivery"
        verbose_name_plural = "offer callback deliveries"

    def ledger_entries(self) -> models.QuerySet[LedgerEntry]:
        """The entries its conversion wrote; none when it recorded no conversion."""
        conversion = OfferConversion.objects.filter(delivery=self).only("id").first()
        return conversion.ledger_entries() if conversion else LedgerEntry.objects.none()


# Each delivery's number in the log, from one sequence (the deliveries table's identity): a conversion takes one too,
# so the log's ids are unique across deliveries with and without a conversion (OfferDelivery). Nothing else holds
# that: a sequence reset from one table's max(id) (sqlsequencereset, TRUNCATE ... RESTART IDENTITY) would let ids
# repeat in the log, so reset it past both tables' ids.
NEXT_DELIVERY_ID = models.Func(
    models.Value("offer_deliveries_id_seq"), function="nextval", output_field=models.BigIntegerField()
)


class OfferConversion(CallbackLog):
    """One state of one offer transaction, as a network reported it; the first report of a state wins. It also
    carries the log of the accepted delivery that reported it (received at created_at)."""

    class Outcome(models.TextChoices):
        HELD = "held", "Held (pending)"
        CREDITED = "credited", "Credited"
        REVERSED = "reversed", "Credit reversed"
        RELEASED = "released", "Hold released, nothing credited"
        RE_CREDITED = "re_credited", "Re-credited after a reversal"
        NOTHING_TO_REVERSE = "nothing_to_reverse", "Reversal with nothing to reverse"
        NO_CHANGE = "no_change", "No change"
        USER_BANNED = "user_banned", "Not credited: user banned by an operator"

    REVERSAL_OUTCOMES = (Outcome.REVERSED, Outcome.RELEASED, Outcome.NOTHING_TO_REVERSE)

    # No index of its own: the unique (integration, transaction id, state) index starts with it.
    integration = models.ForeignKey(
        OfferwallIntegration, on_delete=models.PROTECT, related_name="conversions", db_index=False
    )
    transaction_id = models.CharField(max_length=200)
    state = models.CharField(max_length=32, help_text="The network's offer state, callback type or status.")
    # No index of its own: the unique chain-position index starts with it.
    user = models.ForeignKey(RewardUser, on_delete=models.PROTECT, related_name="offer_conversions", db_index=False)
    delivery = models.OneToOneField(
        OfferDelivery,
        on_delete=models.PROTECT,
        related_name="conversion",
        db_constraint=False,  # the delivery is this row itself, as the log (a view) shows it
        db_default=NEXT_DELIVERY_ID,
        editable=False,
    )
    action = models.CharField(max_length=16, choices=[(action.value, action.name.title()) for action in Action])
    original_transaction_id = models.CharField(
        max_length=200, help_text="The transaction this is about: itself, or the one a reconciliation names."
    )
    amount_received = models.CharField(max_length=40, help_text="In the network's currency, exactly as sent.")
    payout_usd = models.DecimalField(
        "payout (USD)", max_digits=14, decimal_places=4, null=True, blank=True,
        help_text="What the network reported paying for this event, where it sends it.",
    )
    coins = models.BigIntegerField(help_text="The amount in coins at the integration's rate.")
    outcome = models.CharField(max_length=24, choices=Outcome.choices)
    available_delta = models.BigIntegerField(default=0, help_text="Coins this moved in the available balance.")
    held_delta = models.BigIntegerField(default=0, help_text="Coins this moved in the held balance.")
    details = models.JSONField(default=dict, blank=True)
    # Computed, never input: not a PositiveIntegerField, whose CHECK every insert would run.
    chain_position = models.IntegerField(
        editable=False,
        help_text="1 for the offer's first event, 2 for the next, …: unique per offer, so two events of one offer "
        "decided from the same history cannot both be recorded (the later one is decided again).",
    )
    created_at = models.DateTimeField(db_default=Now(), db_index=True)
    reviewed_at = models.DateTimeField(null=True, blank=True, editable=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        editable=False,
        db_index=False,  # a partial index (Meta): only reviewed reversals have a reviewer
    )
    review_note = models.TextField(blank=True, editable=False)

    class Meta:
        db_table = "offer_conversions"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["integration", "transaction_id", "state"], name="uniq_offer_conversion_state"
            ),
            models.CheckConstraint(condition=models.Q(coins__gte=0), name="offer_conversion_coins_not_negative"),
            # Its index also serves reading an offer's events (user, integration, original transaction) and a
            # user's conversions (support, the user foreign key).
            models.UniqueConstraint(
                fields=["user", "integration", "original_transaction_id", "chain_position"],
                name="uniq_offer_conversion_chain_position",
            ),
        ]
        indexes = [
            # The review queue and its count: only unreviewed reversals are in it, a few among millions.
            models.Index(
                fields=["id"],
                condition=models.Q(
                    outcome__in=["reversed", "released", "nothing_to_reverse"], reviewed_at__isnull=True
                ),
                name="offer_conversion_to_review",
            ),
            models.Index(
                fields=["reviewed_by"],
                condition=models.Q(reviewed_by__isnull=False),
                name="offer_conversion_reviewed_by",
            ),
        ]

    def __str__(self):
        return f"{self.transaction_id} {self.state}: {self.get_outcome_display()}"

    def ledger_entries(self) -> models.QuerySet[LedgerEntry]:
        """The entries this event wrote: at most one per balance, found by their keys (a unique index)."""
        keys = [conversion_entry_key(self.pk, bucket) for bucket in LedgerEntry.Bucket]
        return LedgerEntry.objects.filter(key__in=keys)


class OfferSignature(models.Model):
    """A signature an accepted callback carried, and the transaction and amount it was accepted for. Some
    networks sign fields concatenated without separators (Wannads: `tx-17` + `1` reads as `tx-1` + `71`), so one
    genuine signature also verifies for other splits of the same characters; the unique (integration, signature)
    binds it to the first, and the same signature with another transaction or amount is refused as forged."""

    # No index of its own: the unique (integration, signature) index starts with it.
    integration = models.ForeignKey(
        OfferwallIntegration, on_delete=models.PROTECT, related_name="signatures", db_index=False
    )
    signature = models.CharField(max_length=128)
    transaction_id = models.CharField(max_length=200)
    amount_received = models.CharField(max_length=40)
    created_at = models.DateTimeField(db_default=Now())

    class Meta:
        db_table = "offer_signatures"
        constraints = [
            models.UniqueConstraint(fields=["integration", "signature"], name="uniq_offer_signature"),
        ]

    def __str__(self):
        return f"{self.signature[:12]}… for {self.transaction_id}"


# The ledger key of what a conversion moved in one balance, from its id and the bucket: unique, so an event moves
# each balance once. Written only here: the statement that records a conversion gets it as a parameter and fills it
# with PostgreSQL's format(), whose %s reads as Python's does.
CONVERSION_ENTRY_KEY = "offer_conversions:%s:%s"


def conversion_entry_key(conversion_id: int, bucket: str) -> str:
    return CONVERSION_ENTRY_KEY % (conversion_id, bucket)


class OfferReversal(OfferConversion):
    """The support review queue: conversions that took coins back (or tried to)."""

    class Meta:
        proxy = True
        verbose_name = "offer reversal to review"
        verbose_name_plural = "offer reversals to review"


class CoinFlowDay(models.Model):
    """Coins one source issued and took back on one closed UTC day, summed once from the ledger (which is
    append-only, so a closed day never changes): the console's figures read these instead of millions of entries.
    `source` is a ledger kind group (partner_postback, adjustment, offer); offers also name their integration."""

    day = models.DateField()
    source = models.CharField(max_length=32)
    integration = models.ForeignKey(
        OfferwallIntegration, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    issued = models.BigIntegerField(default=0)
    reversed = models.BigIntegerField(default=0)
    payout_usd = models.DecimalField(max_digits=18, decimal_places=4, default=0)  # reported with the issued coins

    class Meta:
        db_table = "coin_flow_days"
        constraints = [
            models.UniqueConstraint(
                fields=["day", "source", "integration"], name="uniq_coin_flow_day", nulls_distinct=False
            ),
        ]

    def __str__(self):
        return f"{self.day} {self.source}: +{self.issued} -{self.reversed}"
