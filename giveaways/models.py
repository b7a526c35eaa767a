"""Giveaways (seeds 000/001): hosts' projects and giveaways, tasks proven by signed callbacks, draws.

Writes live in `giveaways.services`; this module holds data and the constraints the database enforces.
"""

from django.core.validators import MinValueValidator, RegexValidator
from django.db import models
from django.db.models import Q
from django.db.models.functions import Length
from django.db.models.lookups import Exact, GreaterThanOrEqual
from django.utils import timezone

from rewardhub.crypto import EncryptedTextField

RESERVED_EVENT_SEND = "send"  # `event=send` reports reward delivery, so no task may use it

event_validator = RegexValidator(r"^[A-Za-z0-9_.:-]+$", "Letters, digits, dots, colons, hyphens and underscores only.")


class GiveawayProject(models.Model):
    """A host's website(s). Its API key signs every callback of every giveaway in the project."""

    name = models.CharField(max_length=200)
    website_links = models.TextField(blank=True, help_text="The host's website links, one per line.")
    api_key = EncryptedTextField(editable=False, help_text="64 letters and digits; stored encrypted.")
    # Fernet ciphertexts differ on every write, so uniqueness is held by the key's SHA-256.
    api_key_hash = models.CharField(max_length=64, unique=True, editable=False)
    api_key_rotated_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "giveaway_projects"
        ordering = ["name"]
        verbose_name = "giveaway project"

    def __str__(self):
        return self.name


class Giveaway(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft (hidden)"
        LIVE = "live", "Live (public)"
        CANCELLED = "cancelled", "Cancelled"

    project = models.ForeignKey(GiveawayProject, on_delete=models.PROTECT, related_name="giveaways")
    slug = models.SlugField(
        unique=True,
        help_text="Letters, digits and hyphens; the public page is /g/ followed by it, e.g. /g/summer-coupon. "
        "Fixed once saved.",  # no angle brackets: the admin renders help text as HTML
    )
    title = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    # Provably fair draw: the seed stays secret until the draw; its SHA-256 is public from the start.
    server_seed = EncryptedTextField(editable=False)
    seed_commitment = models.CharField("seed commitment (SHA-256)", max_length=64, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "giveaways"
        ordering = ["-starts_at"]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="giveaway_ends_after_start"),
            models.CheckConstraint(condition=Exact(Length("seed_commitment"), 64), name="giveaway_has_seed_commitment"),
        ]

    def __str__(self):
        return self.title

    def is_running(self, now=None) -> bool:
        now = now or timezone.now()
        return self.status == self.Status.LIVE and self.starts_at <= now < self.ends_at

    def has_ended(self, now=None) -> bool:
        return (now or timezone.now()) >= self.ends_at


class GiveawayTask(models.Model):
    class Kind(models.TextChoices):
        SIGN_UP = "sign_up", "Sign up"
        DEPOSIT = "deposit", "Deposit"
        PURCHASE = "purchase", "Purchase"
        PLAY_GAME = "play_game", "Play game"
        CLICK = "click", "Click"
        CUSTOM = "custom", "Custom"

    giveaway = models.ForeignKey(Giveaway, on_delete=models.CASCADE, related_name="tasks")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    name = models.CharField("task name", max_length=200, help_text="What participants are asked to do.")
    event = models.CharField(
        max_length=64,
        validators=[event_validator],
        help_text="The `event` your website sends in the callback, e.g. sign_up or like_articles.",
    )
    website_url = models.URLField("website link", max_length=500, help_text="Participants are sent here.")
    required_amount = models.PositiveIntegerField(
        null=True,
        blank=True,
        validators=[MinValueValidator(1)],
        help_text="Custom tasks only: the running total that completes the task (e.g. 3 for 'like 3 articles').",
    )
    position = models.PositiveSmallIntegerField(default=0)

    class Meta:
        db_table = "giveaway_tasks"
        ordering = ["position", "id"]
        verbose_name = "task"
        constraints = [
            models.UniqueConstraint(fields=["giveaway", "event"], name="uniq_task_event_per_giveaway"),
            models.CheckConstraint(condition=~Q(event=RESERVED_EVENT_SEND), name="task_event_not_send"),
            models.CheckConstraint(
                condition=Q(kind="custom", required_amount__isnull=False, required_amount__gte=1)
                | (~Q(kind="custom") & Q(required_amount=None)),
                name="task_amount_only_for_custom",
            ),
        ]

    def __str__(self):
        return f"{self.name} ({self.event})"

    @property
    def required(self) -> int:
        """Progress that completes the task: the custom amount, or one event."""
        return self.required_amount or 1


class GiveawayReward(models.Model):
    """A custom reward: the host's own website delivers it to the winners."""

    giveaway = models.ForeignKey(Giveaway, on_delete=models.CASCADE, related_name="rewards")
    name = models.CharField(max_length=200)
    winners = models.PositiveIntegerField("number of winners", validators=[MinValueValidator(1)])
    image = models.ImageField(upload_to="giveaways/rewards/")
    tag = models.SlugField("reward tag", max_length=64, help_text="Returned as `reward_tag` by the status API.")
    reward_url = models.URLField(
        "reward website link", max_length=500, help_text="Winners are sent here with ?track_id=… added."
    )
    position = models.PositiveSmallIntegerField(default=0, help_text="Rewards are drawn in this order.")

    class Meta:
        db_table = "giveaway_rewards"
        ordering = ["position", "id"]
        verbose_name = "custom reward"
        constraints = [
            models.UniqueConstraint(fields=["giveaway", "tag"], name="uniq_reward_tag_per_giveaway"),
            models.CheckConstraint(condition=Q(winners__gte=1), name="reward_has_winners"),
        ]

    def __str__(self):
        return f"{self.name} (x{self.winners})"


class Participant(models.Model):
    giveaway = models.ForeignKey(Giveaway, on_delete=models.CASCADE, related_name="participants")
    email = models.EmailField(blank=True)
    track_id = models.CharField(max_length=32, unique=True, editable=False)
    is_test = models.BooleanField(
        default=False, editable=False, help_text="Created by 'Check API callback'; never drawn."
    )
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "giveaway_participants"
        ordering = ["-joined_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["giveaway", "email"], condition=Q(is_test=False), name="uniq_participant_email_per_giveaway"
            ),
            models.CheckConstraint(condition=Q(is_test=True) | ~Q(email=""), name="participant_has_email"),
            models.CheckConstraint(
                condition=GreaterThanOrEqual(Length("track_id"), 11), name="participant_track_id_length"
            ),
        ]

    def __str__(self):
        return f"{self.email or 'test participant'} ({self.track_id})"


class TaskProgress(models.Model):
    """One row per participant and task (the callback's natural key): clicks, running total, completion."""

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="progress")
    task = models.ForeignKey(GiveawayTask, on_delete=models.CASCADE, related_name="progress")
    clicks = models.PositiveIntegerField(default=0)
    first_clicked_at = models.DateTimeField(null=True, blank=True)
    amount = models.PositiveIntegerField(default=0, help_text="Highest running total the website reported.")
    completed_at = models.DateTimeField(null=True, blank=True)
    last_remark = models.CharField(max_length=500, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "giveaway_task_progress"
        verbose_name = "task progress"
        verbose_name_plural = "task progress"
        constraints = [
            models.UniqueConstraint(fields=["participant", "task"], name="uniq_progress_per_participant_task"),
        ]

    def __str__(self):
        return f"{self.participant}: {self.task}"


class CallbackAttempt(models.Model):
    """Callbacks for test participants, bad signatures included, so 'Check API callback' can show them."""

    class Endpoint(models.TextChoices):
        TASK = "task", "task/callback"
        STATUS = "status", "player/status"
        PRIZE = "prize", "prize/callback"

    participant = models.ForeignKey(Participant, on_delete=models.CASCADE, related_name="callback_attempts")
    endpoint = models.CharField(max_length=16, choices=Endpoint.choices)
    event = models.CharField(max_length=64, blank=True)
    signature_valid = models.BooleanField()
    expected_string = models.TextField(help_text="The exact string that had to be signed (never the key).")
    result_code = models.PositiveIntegerField(help_text="The `code` RewardHub answered with.")
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "giveaway_callback_attempts"
        ordering = ["-received_at", "-id"]
        verbose_name = "callback attempt"

    def __str__(self):
        return f"{self.get_endpoint_display()} {self.event} ({'verified' if self.signature_valid else 'bad signature'})"


class Draw(models.Model):
    """The one, final draw of a giveaway (one-to-one: the database refuses a second) and its published data."""

    giveaway = models.OneToOneField(Giveaway, on_delete=models.PROTECT, related_name="draw")
    server_seed = models.CharField(max_length=64, help_text="Revealed at the draw; its SHA-256 is the commitment.")
    entrants = models.JSONField(help_text="SHA-256 of each eligible track_id, in draw order (sorted).")
    entrants_digest = models.CharField(max_length=64)
    rewards = models.JSONField(help_text="[[reward tag, number of winners], …] in draw order.")
    drawn_at = models.DateTimeField(default=timezone.now)

    class Meta:
        db_table = "giveaway_draws"
        ordering = ["-drawn_at"]

    def __str__(self):
        return f"Draw of {self.giveaway}"


class DrawWinner(models.Model):
    draw = models.ForeignKey(Draw, on_delete=models.PROTECT, related_name="winners")
    reward = models.ForeignKey(GiveawayReward, on_delete=models.PROTECT, related_name="draw_winners")
    participant = models.ForeignKey(Participant, on_delete=models.PROTECT, related_name="wins")
    pick = models.PositiveIntegerField(help_text="Order in which the draw picked this winner (0 first).")
    delivered_at = models.DateTimeField(null=True, blank=True, help_text="When the host reported delivery.")

    class Meta:
        db_table = "giveaway_draw_winners"
        ordering = ["draw", "pick"]
        verbose_name = "winner"  # "draw winners" read like the admin's button that draws them
        constraints = [
            models.UniqueConstraint(fields=["draw", "participant"], name="uniq_one_reward_per_winner"),
            models.UniqueConstraint(fields=["draw", "pick"], name="uniq_draw_pick"),
        ]

    def __str__(self):
        return f"{self.participant} wins {self.reward.name}"
