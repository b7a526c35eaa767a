"""A newcomer's first hour: what `make run` and the demo commands print works, run after run."""

import json
import os
import shlex
import subprocess
import sys
from io import StringIO
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.core.management import call_command
from django.http import HttpRequest
from django.test import Client

from catalog.models import PartnerSecret
from ledger.models import RewardUser
from rewardhub.testing import Client as ApiClient

pytestmark = pytest.mark.django_db(transaction=True)  # the API answers from the served application


def seed() -> dict:
    out = StringIO()
    call_command("seed_demo", "--json", stdout=out)
    return json.loads(out.getvalue())


def postback(demo: dict, level: int):
    partner = demo["partner"]
    body = {"pid": partner["pid"], "uid": demo["user"]["id"], "gid": partner["gid"], "level_number": level}
    headers = {"Authorization": f"Bearer {partner['api_secret']}"}
    return ApiClient().post("/api/postback", body, content_type="application/json", headers=headers).json()


def test_the_printed_postback_credits_coins_on_every_run():
    for _ in range(3):
        demo = seed()
        answer = postback(demo, demo["partner"]["next_milestone_level"])
        assert answer["awarded"] is True, answer


def test_the_printed_curl_is_the_next_milestone(capsys):
    call_command("seed_demo")
    printed = capsys.readouterr().out

    assert '"level_number": 5}' in printed
    assert f"curl -X POST {settings.PUBLIC_BASE_URL}/api/postback" in printed


def test_each_run_leaves_one_active_demo_secret():
    for _ in range(3):
        demo = seed()

    active = PartnerSecret.objects.filter(label="seed_demo", revoked_at=None)
    assert active.count() == 1
    assert postback(demo, 5)["awarded"] is True  # the printed one is the one that works


def test_seeding_again_keeps_open_admin_sessions():
    demo = seed()
    operator = Client()
    assert operator.login(request=HttpRequest(), **demo["admin"])  # django-axes needs the request
    assert operator.get("/admin/").status_code == 200

    seed()

    assert operator.get("/admin/").status_code == 200  # not sent back to the login page


def curls(printed: str) -> list[list[str]]:
    commands = printed.replace("\\\n", " ").splitlines()
    return [shlex.split(line) for line in commands if line.startswith("curl ")]


def send(command: list[str]):
    """What curl would send, through the test client (the URLs are PUBLIC_BASE_URL's)."""
    url = urlsplit(command[-1] if "-d" not in command else command[command.index("-X") + 2])
    path = f"{url.path}?{url.query}" if url.query else url.path
    if "-d" in command:
        return ApiClient().post(path, command[command.index("-d") + 1], content_type="application/json")
    return ApiClient().get(path)


def test_signed_examples_credit_the_demo_user_on_every_run():
    seed()
    user = RewardUser.objects.get(device_id="demo-device-0001")
    for run in range(2):
        out = StringIO()
        call_command("signed_examples", stdout=out)
        bitlabs, wannads, giveaway = curls(out.getvalue())

        assert send(bitlabs).json()["result"] == "accepted"
        assert send(wannads).content == b"OK"
        assert send(giveaway).json()["code"] == 10000
        user.refresh_from_db()
        assert user.coins == 2 * 100 * (run + 1)  # 100 coins from each network, each run


def test_signed_examples_ask_for_the_demo_data_first():
    with pytest.raises(Exception, match="seed_demo"):
        call_command("signed_examples")


def test_manage_py_commands_print_no_log_noise():
    result = subprocess.run(
        [sys.executable, "manage.py", "check"], capture_output=True, text=True, cwd=settings.BASE_DIR, check=True
    )

    assert "AXES" not in result.stderr + result.stdout


@pytest.fixture
def fake_venv(tmp_path):
    """`make run` with a python and a gunicorn that print the address they would be told, instead of serving."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "activate").touch()  # newer than requirements.txt: no install
    for command in ("python", "gunicorn"):
        (bin_dir / command).write_text('#!/bin/sh\necho "$PUBLIC_BASE_URL"\n')
        (bin_dir / command).chmod(0o755)
    return bin_dir


@pytest.mark.parametrize(
    ("arguments", "environment", "printed"),
    [
        (["PORT=8101"], {}, "http://127.0.0.1:8101"),
        (["HOST=0.0.0.0", "PORT=8102"], {}, "http://127.0.0.1:8102"),  # reachable here at the loopback address
        (["PORT=8101"], {"PUBLIC_BASE_URL": "https://rewards.example.com"}, "https://rewards.example.com"),
    ],
)
def test_make_run_prints_links_for_the_port_it_serves_on(fake_venv, arguments, environment, printed):
    env = {key: value for key, value in os.environ.items() if key != "PUBLIC_BASE_URL"} | environment
    result = subprocess.run(  # noqa: S603 - our own Makefile
        ["make", "-s", "run", f"BIN={fake_venv}", *arguments],  # noqa: S607 - make from PATH, as a newcomer runs it
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        env=env,
        check=True,
    )

    assert set(result.stdout.split()) == {printed}  # migrate, seed_demo and the server all get it
