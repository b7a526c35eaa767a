"""`make bench`: RewardHub under gunicorn against the reference peer, alternating, in one run.

Provisions the shared workload (store app `cashgiraffe`, game `my_game`, 10,000 users) through our own code,
starts gunicorn with the production config and the peer with ../shared/bench/peer.sh, runs wrk against both
round after round, then measures the other hot paths (BitLabs-style COMPLETED callbacks with valid hashes,
giveaway task callbacks, GET /api/app/me with a token per user) and the postback again over 1,000,000 stored rows.
"""

import hashlib
import hmac
import json
import os
import random
import re
import signal
import statistics
import subprocess
import tempfile
import time
import urllib.request
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection, transaction
from django.urls import reverse
from django.utils import timezone

from catalog.models import RewardGame, StoreApp
from catalog.services import issue_partner_secret
from giveaways import services as giveaway_services
from giveaways.models import Giveaway, GiveawayTask
from giveaways.signing import sign
from ledger.models import RewardUser
from ledger.services import issue_app_token
from postbacks.models import OfferwallIntegration

SHARED_BENCH = Path(settings.BASE_DIR).parent / "shared" / "bench"
HERE = Path(__file__).resolve().parents[2] / "bench"
WRK_LINE = re.compile(r"p50_ms=([\d.]+) p99_ms=([\d.]+) rps=([\d.]+) errors=(\d+)")


@dataclass
class Run:
    rps: float
    p50: float
    p99: float
    errors: int


class Command(BaseCommand):
    help = "Benchmark the hot paths against the reference peer (needs PostgreSQL, wrk, node)."

    def add_arguments(self, parser):
        parser.add_argument("--rounds", type=int, default=5)
        parser.add_argument("--duration", type=int, default=10, help="seconds per wrk run")
        parser.add_argument("--users", type=int, default=10_000)
        parser.add_argument("--big-rows", type=int, default=1_000_000, help="user_postbacks rows for the second run")
        parser.add_argument("--port", type=int, default=8800)
        parser.add_argument("--participants", type=int, default=15_000, help="giveaway participants")

    def handle(self, *args, **options):
        self.options = options
        self.base = f"http://127.0.0.1:{options['port']}"
        work = Path(tempfile.mkdtemp(prefix="rewardhub-bench-"))
        secret, users_file = provision(work, options["users"])
        scenarios = {
            "BitLabs COMPLETED callback": offer_callbacks(work, users_file, 200_000),
            "giveaway task callback": giveaway_callbacks(work, options["participants"]),
            "GET /api/app/me": app_me(work, users_file),
        }
        analyze()
        with gunicorn(options["port"]) as server, peer() as peer_users:
            postback = self.alternate(users_file, secret, peer_users)
            self.print_postback_table("Partner postback, empty tables", postback)
            self.stdout.write(
                "\nOther hot paths (RewardHub only), each round right after a postback round: vs postback is the "
                "median of the rounds' ratios"
            )
            self.stdout.write(
                f"{'path':<28} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'postback':>9} "
                f"{'vs postback':>12}"
            )
            for name, (requests_file, header) in scenarios.items():
                # A warm-up round first (slice 0), then statistics that know the rows it wrote, as on a live system.
                self.replay(requests_file, header, 0, duration=3)
                analyze()
                # Paired with a postback round just before, so the machine's drift during the run (±10% here)
                # moves both sides of each ratio alike, as the peer comparison alternates for the same reason.
                pairs = [
                    (self.wrk(self.base, users_file, secret), self.replay(requests_file, header, round_))
                    for round_ in range(1, self.options["rounds"] + 1)
                ]
                run = median_run([scenario for _, scenario in pairs])
                paired_postback = median_run([postback_run for postback_run, _ in pairs])
                ratio = statistics.median(scenario.rps / postback_run.rps for postback_run, scenario in pairs)
                self.stdout.write(
                    f"{name:<28} {run.rps:>9.1f} {run.p50:>8.2f} {run.p99:>8.2f} {run.errors:>7} "
                    f"{paired_postback.rps:>9.1f} {ratio:>11.2f}x"
                )
            self.stdout.write(f"\nRewardHub workers' resident memory: {worker_rss_mib(server)}")
            fill_postbacks(options["big_rows"])
            big = self.alternate(users_file, secret, peer_users)
            self.print_postback_table(f"Partner postback, {options['big_rows']:,} existing user_postbacks rows", big)
            ours, ours_big = median_run(postback["rewardhub"]), median_run(big["rewardhub"])
            # The peer's table does not grow, so its change between the two runs is the machine's drift.
            drift = median_run(big["peer"]).rps / median_run(postback["peer"]).rps
            change = ours_big.rps / ours.rps
            self.stdout.write(
                f"\nThroughput with {options['big_rows']:,} rows: {change:.2f}x the empty-table figure "
                f"({change / drift:.2f}x after the machine's drift: the peer's runs differ by {drift:.2f}x)"
            )

    def alternate(self, users_file: Path, secret: str, peer_users: Path) -> dict[str, list[Run]]:
        # Warm both sides first (connections opened, statements prepared), as a long-running server would be.
        self.wrk(self.base, users_file, secret, duration=3)
        self.wrk("http://127.0.0.1:8701", peer_users, "bench-secret", duration=3)
        analyze()
        runs = {"rewardhub": [], "peer": []}
        for _ in range(self.options["rounds"]):
            runs["rewardhub"].append(self.wrk(self.base, users_file, secret))
            runs["peer"].append(self.wrk("http://127.0.0.1:8701", peer_users, "bench-secret"))
        return runs

    def replay(self, requests_file: Path, header: str | None, round_: int, duration: int | None = None) -> Run:
        """One round of a scenario, starting at its own share of the file: each round sends new transactions,
        not the previous round's again (which would measure the duplicate answer instead)."""
        lines = sum(1 for _ in requests_file.open())
        env = {
            **os.environ,
            "REQUESTS_FILE": str(requests_file),
            "START": str(round_ * lines // (self.options["rounds"] + 1)),
            **({"HEADER": header} if header else {}),
        }
        return run_wrk(["-s", str(HERE / "requests.lua"), self.base], env, duration or self.options["duration"])

    def wrk(self, url: str, users_file: Path, secret: str, duration: int | None = None) -> Run:
        env = {**os.environ, "USERS_FILE": str(users_file), "SECRET": secret}
        script = SHARED_BENCH / "postback.lua"
        return run_wrk(["-s", str(script), url], env, duration or self.options["duration"])

    def print_postback_table(self, title: str, runs: dict[str, list[Run]]):
        self.stdout.write(f"\n{title} (wrk -t1 -c16 -d{self.options['duration']}s, {self.options['rounds']} rounds)")
        self.stdout.write(f"{'side':<10} {'round':>5} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7}")
        for side, side_runs in runs.items():
            for n, run in enumerate(side_runs, 1):
                self.stdout.write(f"{side:<10} {n:>5} {run.rps:>9.1f} {run.p50:>8.2f} {run.p99:>8.2f} {run.errors:>7}")
        ratios = [ours.rps / theirs.rps for ours, theirs in zip(runs["rewardhub"], runs["peer"], strict=True)]
        ours_p99, peer_p99 = (statistics.median(run.p99 for run in runs[side]) for side in ("rewardhub", "peer"))
        self.stdout.write(
            f"median throughput ratio RewardHub/peer: {statistics.median(ratios):.2f}; "
            f"median p99 ratio: {ours_p99 / peer_p99:.2f}"
        )


def run_wrk(args: list[str], env: dict, duration: int) -> Run:
    output = subprocess.run(
        ["wrk", "-t1", "-c16", f"-d{duration}s", *args], env=env, capture_output=True, text=True, check=True
    ).stdout
    match = WRK_LINE.search(output)
    if match is None:
        raise CommandError(f"wrk printed no figures:\n{output}")
    return Run(float(match[3]), float(match[1]), float(match[2]), int(match[4]))


def median_run(runs: list[Run]) -> Run:
    return sorted(runs, key=lambda run: run.rps)[len(runs) // 2]


def provision(work: Path, users: int) -> tuple[str, Path]:
    """The workload's data, through the project's own models and services."""
    app, _ = StoreApp.objects.get_or_create(pid="cashgiraffe", defaults={"name": "Cash Giraffe"})
    RewardGame.objects.get_or_create(gid="my_game", defaults={"name": "My Game", "play_package": "com.example.mygame"})
    missing = users - RewardUser.objects.filter(store_app=app).count()
    RewardUser.objects.bulk_create(
        [RewardUser(store_app=app, device_id=f"bench-{n}") for n in range(missing)], batch_size=2000
    )
    users_file = work / "users.txt"
    ids = RewardUser.objects.filter(store_app=app).values_list("id", flat=True)[:users]
    users_file.write_text("".join(f"{uid}\n" for uid in ids))
    return issue_partner_secret(store_app=app, label="bench")[1], users_file


def offer_callbacks(work: Path, users_file: Path, count: int) -> tuple[Path, None]:
    """BitLabs-style COMPLETED callbacks, each a new transaction, hashed over the URL as the network does."""
    app = StoreApp.objects.get(pid="cashgiraffe")
    integration, _ = OfferwallIntegration.objects.get_or_create(
        store_app=app, provider="bitlabs", name="Bench BitLabs", defaults={"secret": "bench-bitlabs-secret"}
    )
    path = reverse("offer-callback", args=[integration.slug])
    users = users_file.read_text().split()
    run = timezone.now().strftime("%Y%m%d%H%M%S")
    lines = []
    for n in range(count):
        query = f"uid={random.choice(users)}&tx=bench-{run}-{n}&val=100&raw=0.50&type=COMPLETE&offer_state=COMPLETED"
        url = f"{settings.PUBLIC_BASE_URL}{path}?{query}"
        digest = hmac.new(integration.secret.encode(), url.encode(), hashlib.sha1).hexdigest()
        lines.append(f"GET\t{path}?{query}&hash={digest}\n")
    return write_lines(work / "offers.txt", lines), None


def giveaway_callbacks(work: Path, participants: int) -> tuple[Path, None]:
    """Signed task callbacks: every participant completes each of the giveaway's eight tasks, in random order."""
    giveaway = Giveaway.objects.filter(slug="bench").first()
    if giveaway is None:
        now = timezone.now()
        project = giveaway_services.create_project(name="Bench host", website_links="https://host.example.com")
        giveaway = giveaway_services.create_giveaway(
            project=project,
            slug="bench",
            title="Bench",
            description="",
            status=Giveaway.Status.LIVE,
            starts_at=now - timedelta(days=1),
            ends_at=now + timedelta(days=30),
        )
        kinds = ("sign_up", "deposit", "purchase", "play_game")
        events = (*kinds, "newsletter", "follow", "review", "invite")
        for position, event in enumerate(events):
            GiveawayTask.objects.create(
                giveaway=giveaway,
                kind=kinds[position % len(kinds)],
                name=event,
                event=event,
                position=position,
                website_url="https://host.example.com/task",
            )
    for n in range(giveaway.participants.count(), participants):
        giveaway_services.join_giveaway(giveaway=giveaway, email=f"bench-{n}@example.com")
    api_key = giveaway.project.api_key
    track_ids = list(giveaway.participants.values_list("track_id", flat=True)[:participants])
    events = list(giveaway.tasks.values_list("event", flat=True))
    lines = []
    for event in events:
        for track_id in track_ids:
            signature = sign(api_key, f"track_id={track_id}&event={event}&remark=")
            body = json.dumps({"track_id": track_id, "event": event, "sign": signature})
            lines.append(f"POST\t/public/v1/giveaway/task/callback\t{body}\n")
    random.shuffle(lines)
    return write_lines(work / "giveaway.txt", lines), None


def app_me(work: Path, users_file: Path) -> tuple[Path, None]:
    """App launches: each request a token of its own user (the workload's users), so lookups spread over their
    rows and a token's first call in a minute stamps its last use, as launches do; one token would only ever
    read one row, stamped once."""
    users = RewardUser.objects.in_bulk(users_file.read_text().split())
    with transaction.atomic():
        tokens = [issue_app_token(user=user)[1] for user in users.values()]
    lines = [f"GET\t/api/app/me\t\tAuthorization: Bearer {token}\n" for token in tokens]
    random.shuffle(lines)
    return write_lines(work / "me.txt", lines), None


def write_lines(path: Path, lines: list[str]) -> Path:
    path.write_text("".join(lines))
    return path


def fill_postbacks(rows: int) -> None:
    """Existing history: non-milestone levels above the workload's 1..3000, so the workload is unchanged."""
    with connection.cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO user_postbacks (user_id, game_id, pid, level_number, awarded, coin_delta, metadata)
            SELECT u.id, g.id, 'cashgiraffe', 100000 + n + (n - 1) / 4, false, 0, '{}'
            FROM (SELECT id FROM users ORDER BY id) u
            CROSS JOIN generate_series(1, %s / (SELECT count(*) FROM users)) n
            CROSS JOIN (SELECT id FROM reward_games WHERE gid = 'my_game') g
            ON CONFLICT DO NOTHING
            """,
            [rows],
        )
    analyze()


def analyze() -> None:
    """Fresh statistics after bulk loads, as autovacuum would soon give them, so plans are the steady-state ones;
    then a checkpoint, so the bulk load's WAL is not flushed in the middle of a measured round."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE")
        cursor.execute("CHECKPOINT")


@contextmanager
def gunicorn(port: int):
    env = {**os.environ, "GUNICORN_BIND": f"127.0.0.1:{port}"}
    config = Path(settings.BASE_DIR) / "rewardhub" / "gunicorn.conf.py"
    server = subprocess.Popen(
        [str(Path(os.sys.executable).parent / "gunicorn"), "-c", str(config)],
        env=env,
        cwd=settings.BASE_DIR,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(f"http://127.0.0.1:{port}/healthz")
        yield server
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)


@contextmanager
def peer():
    subprocess.run([str(SHARED_BENCH / "peer.sh"), "start"], check=True, capture_output=True)
    try:
        yield Path(os.environ.get("PEER_DIR", "/tmp/rewardhub-peer")) / "users.txt"
    finally:
        subprocess.run([str(SHARED_BENCH / "peer.sh"), "stop"], check=False)


def wait_for(url: str, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 - a fixed local URL
            return
        except OSError:
            time.sleep(0.2)
    raise CommandError(f"{url} did not answer within {seconds}s")


def worker_rss_mib(server: subprocess.Popen) -> str:
    output = subprocess.run(
        ["ps", "-o", "rss=", "--ppid", str(server.pid)], capture_output=True, text=True, check=True
    ).stdout
    sizes = [int(kib) / 1024 for kib in output.split()]
    return f"{len(sizes)} workers, {statistics.mean(sizes):.0f} MiB each, {sum(sizes):.0f} MiB in all"
