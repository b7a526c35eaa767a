"""`make bench-admin`: the console's pages at volume (10,000,000 ledger entries, 1,000,000 reward users,
2,000,000 offer deliveries, 2,000,000 refused calls by default), timed in-process (server time: queries,
rendering) and printed as a table.

The volume is written by generate_series SQL in a few minutes, a year of history in id order as production
writes it, then analyzed; `make bench-admin` runs it in a database of its own, dropped and re-created."""

import hashlib
import statistics
import time
import uuid
from contextlib import contextmanager
from datetime import timedelta
from urllib.parse import urlencode

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from catalog.models import RewardGame, StoreApp
from ledger.models import RewardUser
from postbacks.models import OfferConversion, OfferDelivery, OfferwallIntegration
from rewardhub.models import RefusedCall

HEAVY_USER_ENTRIES = 1_500  # the user page: 1,500 entries, 2.3 s and 2.9 MB before
PAGE_BUDGET_MS = 500
USER_PAGE_BUDGET_KB = 200

LOAD_SQL = [
    # Users: one registration every ~30 s over a year; 1 in 1,000 negative, 1 in 2,000 banned, 1 in 500 flagged.
    """
    INSERT INTO users (id, store_app_id, device_id, install_secret_hash, reclaim_code_hash, coins, held_coins,
                       created_at, banned_at, ban_reason, network_ban_state, network_ban_reason, network_ban_source)
    SELECT md5('user' || i)::uuid, %(app)s, 'device-' || i, '', '',
           CASE WHEN i %% 1000 = 7 THEN -50 ELSE i %% 997 END, 0,
           %(start)s + i * (%(span)s / %(users)s),
           CASE WHEN i %% 2000 = 3 THEN %(start)s + i * (%(span)s / %(users)s) END,
           CASE WHEN i %% 2000 = 3 THEN 'bench' ELSE '' END,
           CASE WHEN i %% 500 = 11 THEN 'BANNED' ELSE '' END, '', ''
    FROM generate_series(1, %(users)s) i
    """,
    # Deliveries over the year; 1 in 20 refused (bad signature), 1 in 5,000 forged; the last day denser.
    """
    INSERT INTO offer_deliveries_without_conversion (
        integration_id, received_at, method, path, query, source_ip, verdict, message, transaction_id, user_id,
        response_status, response_body
    )
    SELECT %(integrations)s[1 + i %% 3], %(start)s + i * (%(span)s / %(deliveries)s), 'GET', '/api/callbacks/bench',
           'tx=tx-' || i || '&uid=' || md5('user' || (1 + i %% %(users)s))::uuid, ('203.0.113.' || (i %% 250))::inet,
           CASE WHEN i %% 5000 = 1 THEN 'forged' WHEN i %% 20 = 0 THEN 'bad_signature' ELSE 'accepted' END,
           '', 'tx-' || i, md5('user' || (1 + i %% %(users)s))::uuid,
           CASE WHEN i %% 20 = 0 THEN 403 ELSE 200 END, '{"ok": true}'
    FROM generate_series(1, %(deliveries)s) i
    """,
    # A conversion for every accepted delivery, which carries its log; 1 in 40 a reversal, a tenth of which still to
    # review.
    """
    INSERT INTO offer_conversions (integration_id, transaction_id, state, user_id, delivery_id, action,
                                   original_transaction_id, amount_received, coins, outcome, available_delta,
                                   held_delta, details, chain_position, created_at, reviewed_at, review_note,
                                   method, path, query, source_ip, message, response_status, response_body)
    SELECT d.integration_id, d.transaction_id, CASE WHEN d.id %% 40 = 1 THEN 'RECONCILED' ELSE 'COMPLETED' END,
           d.user_id, d.id, CASE WHEN d.id %% 40 = 1 THEN 'reverse' ELSE 'credit' END, d.transaction_id, '1.00', 100,
           CASE WHEN d.id %% 40 = 1 THEN 'reversed' ELSE 'credited' END,
           CASE WHEN d.id %% 40 = 1 THEN -100 ELSE 100 END, 0, '{}', 1, d.received_at,
           CASE WHEN d.id %% 40 = 1 AND d.id %% 400 <> 1 THEN d.received_at END, '',
           d.method, d.path, d.query, d.source_ip, d.message, d.response_status, d.response_body
    FROM offer_deliveries_without_conversion d WHERE d.verdict = 'accepted'
    """,
    "DELETE FROM offer_deliveries_without_conversion WHERE verdict = 'accepted'",
    # Partner postbacks: a fifth of the ledger's partner entries (every 5th level credits).
    """
    INSERT INTO user_postbacks (user_id, game_id, pid, level_number, awarded, coin_delta, metadata, created_at)
    SELECT md5('user' || (1 + i %% %(users)s))::uuid, %(game)s, 'cashgiraffe', 1 + i / %(users)s, true, 25, '{}',
           %(start)s + i * (%(span)s / %(postbacks)s)
    FROM generate_series(1, %(postbacks)s) i
    """,
    # The ledger, in time order as production writes it (ids follow created_at): offer entries for every
    # conversion, staff adjustments, partner milestones for the rest, and one user with a long history (the
    # issue's support case).
    """
    INSERT INTO ledger_entries (user_id, amount, kind, bucket, reference, key, balance_after, note, created_at,
                                created_by_id)
    SELECT * FROM (
        SELECT c.user_id, c.available_delta,
               CASE WHEN c.available_delta > 0 THEN 'offer_credit' ELSE 'offer_reversal' END, 'available',
               'offer_conversions:' || c.id, 'offer_conversions:' || c.id || ':available', 500, '', c.created_at,
               NULL::integer
        FROM offer_conversions c
        UNION ALL
        SELECT md5('user' || (1 + i * 7919 %% %(users)s))::uuid, CASE WHEN i %% 2 = 0 THEN 10 ELSE -10 END,
               'adjustment', 'available', 'staff:' || %(staff)s, 'adjustment:bench-' || i, 500, 'bench correction',
               %(start)s + i * (%(span)s / 2000), %(staff)s
        FROM generate_series(1, 2000) i
        UNION ALL
        SELECT md5('user' || (1 + i %% %(users)s))::uuid, 25, 'partner_postback', 'available',
               'user_postbacks:' || i, 'partner_postback:' || i, 25 * (1 + i / %(users)s), '',
               %(start)s + i * (%(span)s / %(partner_entries)s), NULL
        FROM generate_series(1, %(partner_entries)s) i
        UNION ALL
        SELECT md5('user1')::uuid, 25, 'partner_postback', 'available', 'user_postbacks:' || (900000000 + i),
               'partner_postback:' || (900000000 + i), 25 * i, '', %(start)s + i * (%(span)s / %(heavy)s), NULL
        FROM generate_series(1, %(heavy)s) i
    ) entries
    ORDER BY created_at
    """,
    # Refused calls over the retention (30 days), in id order: 1 in 20 a giveaway callback's bad signature, the
    # rest partners' (50 pids, one of them rare); 1 in 1,000 a game_inactive, a third unknown_uid.
    """
    INSERT INTO refused_calls (created_at, source, code, message, status, source_ip, path, pid, giveaway_id,
                               user_id, gid, level_number, event)
    SELECT %(refused_start)s + i * (%(refused_span)s / %(refused)s),
           CASE WHEN i %% 20 = 0 THEN 'giveaway_callback' ELSE 'partner_postback' END,
           CASE WHEN i %% 20 = 0 THEN 'bad_signature' WHEN i %% 1000 = 1 THEN 'game_inactive'
                WHEN i %% 3 = 0 THEN 'unknown_uid' ELSE 'unauthorized' END,
           'Missing or invalid API secret.', CASE WHEN i %% 20 = 0 OR i %% 3 <> 0 THEN 401 ELSE 404 END,
           ('198.51.100.' || (i %% 250))::inet,
           CASE WHEN i %% 20 = 0 THEN '/public/v1/giveaway/task/callback' ELSE '/api/postback' END,
           CASE WHEN i %% 20 = 0 THEN '' WHEN i %% 100000 = 7 THEN 'rare-partner' ELSE 'partner-' || (i %% 50) END,
           CASE WHEN i %% 20 = 0 THEN i %% 40 END,
           CASE WHEN i %% 20 = 0 THEN 'track-' || i ELSE md5('user' || (1 + i %% %(users)s))::uuid::text END,
           CASE WHEN i %% 20 = 0 THEN '' ELSE 'my_game' END, CASE WHEN i %% 20 <> 0 THEN 1 + i %% 300 END,
           CASE WHEN i %% 20 = 0 THEN 'sign_up' ELSE '' END
    FROM generate_series(1, %(refused)s) i
    """,
]


LOADED_TABLES = [
    "users",
    "offer_deliveries_without_conversion",
    "offer_conversions",
    "user_postbacks",
    "ledger_entries",
    "refused_calls",
]


@contextmanager
def indexes_built_after(cursor, tables):
    """Drop the tables' secondary indexes and unique constraints, load, build them again: one sort per index
    instead of millions of random inserts. Primary keys stay (the load's joins use them)."""
    cursor.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid::regclass::text = ANY(%s) AND contype = 'u'",
        [tables],
    )
    constraints = cursor.fetchall()
    for table, name, _ in constraints:
        cursor.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    cursor.execute(
        "SELECT indexname, indexdef FROM pg_indexes WHERE tablename = ANY(%s) AND indexname NOT LIKE '%%_pkey'",
        [tables],
    )
    indexes = cursor.fetchall()
    for name, _ in indexes:
        cursor.execute(f'DROP INDEX "{name}"')
    yield
    started = time.monotonic()
    for _, definition in indexes:
        cursor.execute(definition)
    for table, name, definition in constraints:
        cursor.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
    print(f"  {len(indexes) + len(constraints)} indexes built in {time.monotonic() - started:.0f} s")


class Command(BaseCommand):
    help = "Load the console's volume into this database (empty) and print how long each admin page takes."

    def add_arguments(self, parser):
        parser.add_argument("--ledger", type=int, default=10_000_000)
        parser.add_argument("--users", type=int, default=1_000_000)
        parser.add_argument("--deliveries", type=int, default=2_000_000)
        parser.add_argument("--refused", type=int, default=2_000_000)
        parser.add_argument("--repeat", type=int, default=5, help="timed requests per page")
        parser.add_argument("--no-load", action="store_true", help="time the pages of an already loaded database")

    def handle(self, *args, **options):
        staff = get_user_model().objects.filter(username="bench-admin").first()
        if not options["no_load"]:
            staff = self.load(options)
        self.time_pages(staff, options["repeat"])

    def load(self, options):
        started = time.monotonic()
        staff = get_user_model().objects.create_superuser("bench-admin", "bench@example.com", uuid.uuid4().hex)
        app = StoreApp.objects.create(pid="cashgiraffe", name="Cash Giraffe")
        game = RewardGame.objects.create(gid="my_game", name="My game", play_package="com.example.game")
        integrations = [
            OfferwallIntegration.objects.create(provider=provider, name=name, store_app=app, secret=uuid.uuid4().hex)
            for provider, name in [("bitlabs", "BitLabs"), ("wannads", "Wannads"), ("bitlabs", "BitLabs iOS")]
        ]
        deliveries, users = options["deliveries"], options["users"]
        offer_entries = deliveries * 19 // 20
        params = {
            "app": app.pk,
            "game": game.pk,
            "staff": staff.pk,
            "integrations": [integration.pk for integration in integrations],
            "start": timezone.now() - timedelta(days=365),
            "span": timedelta(days=365),
            "users": users,
            "deliveries": deliveries,
            "postbacks": max(1, (options["ledger"] - offer_entries) // 5),
            "partner_entries": max(1, options["ledger"] - offer_entries - HEAVY_USER_ENTRIES - 2000),
            "heavy": HEAVY_USER_ENTRIES,
            "refused": options["refused"],
            "refused_start": timezone.now() - timedelta(days=settings.REFUSED_CALL_RETENTION_DAYS),
            "refused_span": timedelta(days=settings.REFUSED_CALL_RETENTION_DAYS),
        }
        with connection.cursor() as cursor:
            cursor.execute("SET synchronous_commit = off")
            cursor.execute("SET maintenance_work_mem = '512MB'")
            cursor.execute("SET work_mem = '256MB'")
            cursor.execute(
                "SET session_replication_role = replica"
            )  # rows are consistent by construction: no FK checks
            with indexes_built_after(cursor, LOADED_TABLES):
                for sql in LOAD_SQL:
                    step = time.monotonic()
                    cursor.execute(sql, params)
                    rows = cursor.rowcount
                    self.stdout.write(f"  {rows:>10,} rows  {time.monotonic() - step:6.1f} s  {sql.split()[2]}")
            cursor.execute("SET session_replication_role = DEFAULT")
            cursor.execute("VACUUM ANALYZE")
        self.stdout.write(f"Loaded in {time.monotonic() - started:.0f} s.\n")
        return staff

    def time_pages(self, staff, repeat):
        client = Client()
        client.force_login(staff)
        heavy = RewardUser.objects.get(pk=uuid.UUID(hex=hashlib.md5(b"user1").hexdigest()))  # noqa: S324
        delivery = OfferDelivery.objects.order_by("-id").first()
        reversal = OfferConversion.objects.filter(outcome="reversed").order_by("-id").first()
        integration = OfferwallIntegration.objects.first()
        refused = RefusedCall.objects.order_by("-id").first()
        url = lambda name, *args: reverse(f"admin:{name}", args=args)  # noqa: E731
        pages = [
            ("dashboard (first: sums 29 days)", url("index"), 1),
            ("dashboard", url("index"), repeat),
            ("ledger list", url("ledger_ledgerentry_changelist"), repeat),
            ("ledger: search user id", url("ledger_ledgerentry_changelist") + f"?q={heavy.pk}", repeat),
            ("ledger: search device id", url("ledger_ledgerentry_changelist") + f"?q={heavy.device_id}", repeat),
            ("ledger: search reference", url("ledger_ledgerentry_changelist") + "?q=user_postbacks:4242", repeat),
            ("ledger: a user's entries", url("ledger_ledgerentry_changelist") + f"?user__id__exact={heavy.pk}", repeat),
            ("ledger: kind adjustment", url("ledger_ledgerentry_changelist") + "?kind=adjustment", repeat),
            ("ledger: kind offer reversal", url("ledger_ledgerentry_changelist") + "?kind=offer_reversal", repeat),
            ("ledger: past 7 days", url("ledger_ledgerentry_changelist") + "?" + week_ago(), repeat),
            ("ledger: page 100", url("ledger_ledgerentry_changelist") + "?p=100", repeat),
            ("ledger entry", url("ledger_ledgerentry_change", heavy.entries.first().pk), repeat),
            ("users list", url("ledger_rewarduser_changelist"), repeat),
            ("users: search id", url("ledger_rewarduser_changelist") + f"?q={heavy.pk}", repeat),
            ("users: search device id", url("ledger_rewarduser_changelist") + "?q=device-4242", repeat),
            ("users: negative balance", url("ledger_rewarduser_changelist") + "?balance=negative", repeat),
            ("users: banned", url("ledger_rewarduser_changelist") + "?banned_at__isempty=0", repeat),
            ("users: network banned", url("ledger_rewarduser_changelist") + "?network_ban_state=BANNED", repeat),
            ("user page (1,500+ entries)", url("ledger_rewarduser_change", heavy.pk), repeat),
            ("user page, ledger page 30", url("ledger_rewarduser_change", heavy.pk) + "?entries_page=30", repeat),
            ("deliveries list", url("postbacks_offerdelivery_changelist"), repeat),
            ("deliveries: search tx", url("postbacks_offerdelivery_changelist") + "?q=tx-4242", repeat),
            ("deliveries: bad signature", url("postbacks_offerdelivery_changelist") + "?verdict=bad_signature", repeat),
            ("deliveries: forged", url("postbacks_offerdelivery_changelist") + "?verdict=forged", repeat),
            (
                "deliveries: integration",
                url("postbacks_offerdelivery_changelist") + f"?integration__id__exact={integration.pk}",
                repeat,
            ),
            ("delivery", url("postbacks_offerdelivery_change", delivery.pk), repeat),
            ("conversions list", url("postbacks_offerconversion_changelist"), repeat),
            ("conversions: search tx", url("postbacks_offerconversion_changelist") + "?q=tx-4243", repeat),
            ("conversions: reversed", url("postbacks_offerconversion_changelist") + "?outcome=reversed", repeat),
            ("reversal queue", url("postbacks_offerreversal_changelist"), repeat),
            ("reversal queue: reviewed", url("postbacks_offerreversal_changelist") + "?reviewed=yes", repeat),
            ("reversal", url("postbacks_offerreversal_change", reversal.pk), repeat),
            ("partner postbacks list", url("postbacks_userpostback_changelist"), repeat),
            ("partner postbacks: search user", url("postbacks_userpostback_changelist") + f"?q={heavy.pk}", repeat),
            ("integrations list", url("postbacks_offerwallintegration_changelist"), repeat),
            ("refused calls list", url("rewardhub_refusedcall_changelist"), repeat),
            ("refused: search rare pid", url("rewardhub_refusedcall_changelist") + "?q=rare-partner", repeat),
            ("refused: search track_id", url("rewardhub_refusedcall_changelist") + f"?q={refused.user_id}", repeat),
            ("refused: search IP", url("rewardhub_refusedcall_changelist") + "?q=198.51.100.7", repeat),
            ("refused: search unused IP", url("rewardhub_refusedcall_changelist") + "?q=192.0.2.1", repeat),
            ("refused: code game_inactive", url("rewardhub_refusedcall_changelist") + "?code=game_inactive", repeat),
            (
                "refused: giveaway callbacks",
                url("rewardhub_refusedcall_changelist") + "?source__exact=giveaway_callback",
                repeat,
            ),
            ("refused: a partner's 24 h", url("rewardhub_refusedcall_changelist") + "?" + partner_day(), repeat),
            ("refused: past 7 days", url("rewardhub_refusedcall_changelist") + "?" + week_ago(), repeat),
            ("refused call", url("rewardhub_refusedcall_change", refused.pk), repeat),
        ]
        self.stdout.write("| page | p50 ms | max ms | KB | queries |\n| --- | ---: | ---: | ---: | ---: |")
        slow = []
        for label, path, times in pages:
            durations = []
            for _ in range(times):
                with CaptureQueriesContext(connection) as queries:
                    started = time.perf_counter()
                    response = client.get(path)
                    durations.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 200, (path, response.status_code)
            size = len(response.content) / 1024
            p50 = statistics.median(durations)
            self.stdout.write(f"| {label} | {p50:.0f} | {max(durations):.0f} | {size:.0f} | {len(queries)} |")
            if p50 > PAGE_BUDGET_MS and times > 1:
                slow.append(label)
        if slow:
            self.stdout.write(f"Over {PAGE_BUDGET_MS} ms: {', '.join(slow)}")


def week_ago() -> str:
    """As the date filter's "Past 7 days" sends it."""
    since = (timezone.now() - timedelta(days=7)).replace(hour=0, minute=0, second=0, microsecond=0)
    return urlencode({"created_at__gte": since.isoformat()})


def partner_day() -> str:
    """As the first page's partner chart links it."""
    return urlencode({"pid__exact": "partner-7", "created_at__gte": (timezone.now() - timedelta(hours=24)).isoformat()})
