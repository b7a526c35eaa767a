"""hypothesis property tests for every signature, canonical string and parser of an inbound request.

Expected signatures are computed here with hashlib/hmac from the documented recipes, never with the code under
test. Examples are derandomized (CI sees the same ones every run) and bounded by PROPERTY so the module stays fast.
"""

import hashlib
import hmac
import json
import uuid
from urllib.parse import quote, urlencode

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from giveaways import fairness, signing
from giveaways.api import MAX_RUNNING_TOTAL, SignedTrackIdRequest, TaskCallbackRequest
from ledger.api import RegisterRequestSchema
from postbacks.models import MAX_LEVEL
from postbacks.offers.networks.base import BanEvent, CallbackRequest, ConversionEvent, InvalidCallback
from postbacks.offers.networks.bitlabs import NETWORK as BITLABS
from postbacks.offers.networks.wannads import NETWORK as WANNADS
from postbacks.partner.app_api import AckRequestSchema
from postbacks.partner.parsing import parse_partner_postback
from rewardhub.errors import Refused, json_api_status
from rewardhub.inputs import load_json_object, unique_params

settings.register_profile(
    "rewardhub-properties",
    max_examples=60,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PROPERTY = settings.get_profile("rewardhub-properties")

BASE = "https://rewards.example.com/api/callbacks/bitlabs-live"
text = st.text(max_size=40)  # any unicode, surrogates excluded (they cannot be UTF-8 encoded by a sender)
secrets_ = st.text(min_size=1, max_size=40)
# JSON values of every kind a sender could put in a field: nulls, booleans, huge and negative numbers,
# floats, empty and unicode strings, and nested junk.
json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["", "0", "5", "1e3", "a1b2c3d4-e5f6-7890-abcd-ef1234567890", " ", "\x00", "\u202e"])
    | text
)
json_values = st.recursive(
    json_scalars, lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3), max_leaves=8
)


def one_char_changed(value: str, data) -> str:
    """`value` with exactly one character replaced by a different one."""
    index = data.draw(st.integers(min_value=0, max_value=len(value) - 1), label="index")
    replacement = data.draw(st.characters(exclude_characters=[value[index]], exclude_categories=["Cs"]), label="char")
    return value[:index] + replacement + value[index + 1 :]


# --- BitLabs: HMAC-SHA1 over the full URL without `&hash=…` ----------------------------------------------------


def bitlabs_url(params: dict[str, str], secret: str) -> str:
    unsigned = f"{BASE}?{urlencode(params)}" if params else BASE
    digest = hmac.new(secret.encode(), unsigned.encode(), hashlib.sha1).hexdigest()
    return f"{unsigned}{'&' if params else '?'}hash={digest}"


def bitlabs_request(url: str) -> CallbackRequest:
    return CallbackRequest.of(url, url.partition("?")[2])


@PROPERTY
@given(params=st.dictionaries(text.filter(lambda k: k != "hash"), text, max_size=5), secret=secrets_)
def test_bitlabs_signature_over_any_unicode_url_verifies(params, secret):
    url = bitlabs_url(params, secret)
    assert BITLABS.verify(bitlabs_request(url), secret)


@PROPERTY
@given(params=st.dictionaries(text.filter(lambda k: k != "hash"), text, min_size=1, max_size=5), secret=secrets_)
def test_bitlabs_hash_is_case_insensitive_hex(params, secret):
    unsigned, _, digest = bitlabs_url(params, secret).rpartition("&hash=")
    assert BITLABS.verify(bitlabs_request(f"{unsigned}&hash={digest.upper()}"), secret)


@PROPERTY
@given(
    params=st.dictionaries(text.filter(lambda k: k != "hash"), text, min_size=1, max_size=5),
    secret=secrets_,
    data=st.data(),
)
def test_bitlabs_any_single_character_change_of_the_signed_url_fails(params, secret, data):
    unsigned, _, digest = bitlabs_url(params, secret).rpartition("&hash=")
    tampered = one_char_changed(unsigned, data)
    assume("&hash=" not in tampered and "?hash=" not in tampered)
    assert not BITLABS.verify(bitlabs_request(f"{tampered}&hash={digest}"), secret)


@PROPERTY
@given(
    params=st.dictionaries(text.filter(lambda k: k != "hash"), text, min_size=1, max_size=5),
    secret=secrets_,
    data=st.data(),
)
def test_bitlabs_any_single_character_change_of_the_hash_fails(params, secret, data):
    unsigned, _, digest = bitlabs_url(params, secret).rpartition("&hash=")
    tampered = one_char_changed(digest, data)
    assume(tampered.lower() != digest)
    assert not BITLABS.verify(bitlabs_request(f"{unsigned}&hash={quote(tampered)}"), secret)


@PROPERTY
@given(params=st.dictionaries(text, text, max_size=8))
def test_bitlabs_parse_raises_nothing_but_invalid_callback(params):
    try:
        event = BITLABS.parse(CallbackRequest.of(BASE, urlencode(params)))
    except InvalidCallback:
        return
    assert isinstance(event, ConversionEvent | BanEvent)
    assert event.user_id


# --- Wannads: MD5 of user_id . transaction_id . reward . secret -------------------------------------------------


def wannads_request(user_id: str, transaction_id: str, reward: str, signature: str, **extra) -> CallbackRequest:
    params = {"user_id": user_id, "transaction_id": transaction_id, "reward": reward, "signature": signature, **extra}
    return CallbackRequest.of(BASE, urlencode(params))


def md5_hex(value: str) -> str:
    return hashlib.md5(value.encode(), usedforsecurity=False).hexdigest()


@PROPERTY
@given(
    user_id=text,
    transaction_id=text,
    reward=text,
    secret=secrets_,
    extra=st.dictionaries(st.sampled_from(["offer_id", "ip", "aff_sub"]), text),
)
def test_wannads_signature_over_any_unicode_verifies_and_ignores_extra_parameters(
    user_id, transaction_id, reward, secret, extra
):
    signature = md5_hex(user_id + transaction_id + reward + secret)
    assert WANNADS.verify(wannads_request(user_id, transaction_id, reward, signature, **extra), secret)
    assert WANNADS.verify(wannads_request(user_id, transaction_id, reward, signature.upper()), secret)


@PROPERTY
@given(
    fields=st.tuples(text, text, text).filter(lambda f: any(f)),
    secret=secrets_,
    which=st.integers(min_value=0, max_value=2),
    data=st.data(),
)
def test_wannads_any_single_character_change_of_a_signed_field_fails(fields, secret, which, data):
    assume(fields[which])
    signature = md5_hex("".join(fields) + secret)
    changed = list(fields)
    changed[which] = one_char_changed(fields[which], data)
    assert not WANNADS.verify(wannads_request(*changed, signature), secret)


@PROPERTY
@given(user_id=text, transaction_id=text, reward=text, secret=secrets_, data=st.data())
def test_wannads_any_single_character_change_of_the_signature_fails(user_id, transaction_id, reward, secret, data):
    signature = md5_hex(user_id + transaction_id + reward + secret)
    tampered = one_char_changed(signature, data)
    assume(tampered.lower() != signature)
    assert not WANNADS.verify(wannads_request(user_id, transaction_id, reward, tampered), secret)


@PROPERTY
@given(
    params=st.dictionaries(
        st.sampled_from(["user_id", "transaction_id", "reward", "status", "ip"]) | text, text, max_size=8
    )
)
def test_wannads_parse_raises_nothing_but_invalid_callback(params):
    try:
        event = WANNADS.parse(CallbackRequest.of(BASE, urlencode(params)))
    except InvalidCallback:
        return
    assert event.state in ("credited", "rejected")
    assert event.amount.is_finite()


# --- giveaway signatures and canonical strings --------------------------------------------------------------

plain = st.text(alphabet=st.characters(exclude_characters="&=", exclude_categories=["Cs"]), max_size=30)


@PROPERTY
@given(
    track_id=plain,
    event=plain,
    value=st.none() | st.from_regex(r"[0-9]{1,10}", fullmatch=True),
    remark=st.none() | plain,
)
def test_task_callback_string_round_trips(track_id, event, value, remark):
    documented = signing.task_callback_strings(track_id=track_id, event=event, value=value, remark=remark)[0]
    fields = dict(pair.split("=", 1) for pair in documented.split("&"))
    expected = {"track_id": track_id, "event": event, **({"value": value} if value is not None else {})}
    assert fields == {**expected, "remark": remark or ""}
    assert list(fields) == [*expected, "remark"]  # the documented order


@PROPERTY
@given(track_id=text)
def test_track_id_string_round_trips(track_id):
    assert signing.track_id_string(track_id).removeprefix("track_id=") == track_id


@PROPERTY
@given(
    api_key=secrets_,
    track_id=text,
    event=text,
    value=st.none() | st.from_regex(r"[0-9]{1,10}", fullmatch=True),
    remark=st.none() | text,
)
def test_every_accepted_giveaway_string_signed_with_the_key_verifies(api_key, track_id, event, value, remark):
    candidates = signing.task_callback_strings(track_id=track_id, event=event, value=value, remark=remark)
    for data in candidates:
        signature = hmac.new(api_key.encode(), data.encode(), hashlib.sha256).hexdigest()
        assert signing.matches(api_key, candidates, signature)
        assert signing.matches(api_key, candidates, signature.upper())


@PROPERTY
@given(api_key=secrets_, track_id=text, data=st.data())
def test_giveaway_signature_fails_after_any_single_character_change(api_key, track_id, data):
    signed = signing.track_id_string(track_id)
    signature = hmac.new(api_key.encode(), signed.encode(), hashlib.sha256).hexdigest()
    tampered_signature = one_char_changed(signature, data)
    assume(tampered_signature.lower() != signature)
    assert not signing.matches(api_key, [signed], tampered_signature)
    tampered_string = one_char_changed(signed, data)
    assert not signing.matches(api_key, [tampered_string], signature)
    tampered_key = one_char_changed(api_key, data)
    assert not signing.matches(tampered_key, [signed], signature)


# --- the provably fair draw ---------------------------------------------------------------------------------

seeds = st.binary(min_size=32, max_size=32).map(bytes.hex)
entrant_lists = st.lists(st.text(max_size=20), max_size=25, unique=True).map(
    lambda ids: sorted(hashlib.sha256(i.encode()).hexdigest() for i in ids)
)
reward_lists = st.lists(st.tuples(st.from_regex(r"[a-z]{1,8}", fullmatch=True), st.integers(0, 5)), max_size=4)


@PROPERTY
@given(seed=seeds)
def test_commitment_is_the_sha256_of_the_seed(seed):
    assert fairness.commitment(seed) == hashlib.sha256(seed.encode()).hexdigest()


@PROPERTY
@given(entrants=entrant_lists)
def test_entrants_digest_is_the_sha256_of_the_lines(entrants):
    assert fairness.entrants_digest(entrants) == hashlib.sha256("\n".join(entrants).encode()).hexdigest()


@PROPERTY
@given(seed=seeds, entrants=entrant_lists, rewards=reward_lists)
def test_draw_is_reproducible_fair_to_the_rules_and_never_picks_twice(seed, entrants, rewards):
    picks = fairness.draw_winners(server_seed=seed, entrants=entrants, rewards=rewards)
    assert picks == fairness.draw_winners(server_seed=seed, entrants=list(entrants), rewards=list(rewards))
    winners = [pick.entrant for pick in picks]
    assert len(winners) == len(set(winners)) == min(len(entrants), sum(count for _, count in rewards))
    assert set(winners) <= set(entrants)
    drawn_order = [tag for tag, count in rewards for _ in range(count)][: len(picks)]
    assert [pick.reward_tag for pick in picks] == drawn_order


@PROPERTY
@given(seed=seeds, entrants=entrant_lists.filter(bool))
def test_first_pick_is_the_hmac_number_mod_n_without_bias(seed, entrants):
    """Recomputed from the published recipe: HMAC-SHA256(seed, "<digest>:<counter>"), rejection sampling."""
    digest = hashlib.sha256("\n".join(entrants).encode()).hexdigest()
    n, space, counter = len(entrants), 1 << 256, 0
    while True:
        x = int.from_bytes(hmac.new(seed.encode(), f"{digest}:{counter}".encode(), hashlib.sha256).digest(), "big")
        counter += 1
        if x < space - space % n:
            break
    picks = fairness.draw_winners(server_seed=seed, entrants=entrants, rewards=[("first", 1)])
    assert picks[0].entrant == entrants[x % n]


# --- the partner postback body ------------------------------------------------------------------------------

ALIASES = {
    "uid": ["uid", "userId", "user_id"],
    "gid": ["gid", "game_id", "gameId"],
    "level_number": ["level_number", "level"],
}
# What PostgreSQL text can hold: no NUL, no unpaired surrogate (the parser refuses both).
storable = st.characters(exclude_characters="\x00", exclude_categories=["Cs"])
valid_bodies = st.fixed_dictionaries(
    {
        "pid": st.text(storable, min_size=1, max_size=64),
        "uid": st.uuids().map(str),
        "gid": st.text(storable, min_size=1, max_size=100),
        "level_number": st.integers(min_value=1, max_value=MAX_LEVEL),
    },
    optional={"reason": st.text(storable, min_size=1, max_size=500)},
)


def assert_4xx(error: Refused) -> None:
    assert 400 <= json_api_status(error) < 500
    assert error.code and error.message


@PROPERTY
@given(raw=st.binary(max_size=300))
def test_partner_parser_on_any_bytes_raises_only_api_errors(raw):
    try:
        parse_partner_postback(raw)
    except Refused as error:
        assert_4xx(error)


@PROPERTY
@given(
    body=st.dictionaries(
        st.sampled_from(
            ["pid", "uid", "userId", "user_id", "gid", "game_id", "gameId", "level_number", "level", "reason"]
        )
        | text,
        json_values,
        max_size=7,
    )
)
def test_partner_parser_on_any_json_object_returns_a_valid_request_or_a_400(body):
    try:
        request = parse_partner_postback(json.dumps(body).encode())
    except Refused as error:
        assert json_api_status(error) == 400
        assert error.code in ("unknown_field", "missing_field", "invalid_field")
        return
    assert type(request.level_number) is int and 1 <= request.level_number <= MAX_LEVEL
    assert isinstance(request.uid, uuid.UUID)
    assert isinstance(request.pid, str) and 1 <= len(request.pid) <= 64
    assert isinstance(request.gid, str) and 1 <= len(request.gid) <= 100


@PROPERTY
@given(body=valid_bodies, data=st.data())
def test_partner_parser_accepts_every_alias_spelling_alike(body, data):
    spelled = {}
    for name, value in body.items():
        spelled[data.draw(st.sampled_from(ALIASES.get(name, [name])), label=name)] = value
    assert parse_partner_postback(json.dumps(spelled).encode()) == parse_partner_postback(json.dumps(body).encode())


@PROPERTY
@given(body=valid_bodies, data=st.data())
def test_partner_parser_refuses_a_repeated_key(body, data):
    key = data.draw(st.sampled_from(sorted(body)), label="key")
    raw = json.dumps(body)[:-1] + f", {json.dumps(key)}: {json.dumps(body[key])}}}"
    with pytest.raises(Refused) as refused:
        parse_partner_postback(raw.encode())
    assert refused.value.code == "invalid_json"


@PROPERTY
@given(
    body=valid_bodies,
    level=st.booleans()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.integers(max_value=0)
    | st.integers(min_value=MAX_LEVEL + 1)
    | st.integers(min_value=1, max_value=MAX_LEVEL).map(str),
)
def test_partner_parser_refuses_levels_that_are_not_whole_numbers_in_range(body, level):
    with pytest.raises(Refused) as refused:
        parse_partner_postback(json.dumps({**body, "level_number": level}).encode())
    assert refused.value.code == "invalid_field"


@PROPERTY
@given(body=valid_bodies, field=st.sampled_from(["pid", "uid", "gid"]), value=st.sampled_from(["", 0, False, [], {}]))
def test_partner_parser_refuses_empty_or_wrongly_typed_ids(body, field, value):
    with pytest.raises(Refused) as refused:
        parse_partner_postback(json.dumps({**body, field: value}).encode())
    assert refused.value.code in ("invalid_field", "missing_field")


# --- app and giveaway request bodies -------------------------------------------------------------------------


@PROPERTY
@given(raw=st.binary(max_size=300) | st.text(max_size=100).map(str.encode))
def test_json_loader_on_any_bytes_returns_an_object_or_invalid_json(raw):
    try:
        assert isinstance(load_json_object(raw), dict)
    except Refused as error:
        assert (json_api_status(error), error.code) == (400, "invalid_json")


@PROPERTY
@given(pairs=st.lists(st.tuples(st.sampled_from(["track_id", "sign", "event"]), text), max_size=6))
def test_form_and_query_parameters_are_kept_only_when_each_name_appears_once(pairs):
    names = [name for name, _ in pairs]
    if len(set(names)) == len(names):
        assert unique_params(pairs) == dict(pairs)
    else:
        with pytest.raises(Refused) as refused:
            unique_params(pairs)
        assert refused.value.code == "repeated_parameter"


@PROPERTY
@given(
    schema=st.sampled_from([TaskCallbackRequest, SignedTrackIdRequest]),
    body=st.dictionaries(
        st.sampled_from(["track_id", "event", "value", "remark", "sign"]) | text, json_values, max_size=6
    ),
)
def test_giveaway_request_validation_never_raises(schema, body):
    serializer = schema(data=body)
    if serializer.is_valid():
        assert isinstance(serializer.validated_data["track_id"], str)
        value = serializer.validated_data.get("value")
        assert value is None or (value.isdigit() and int(value) <= MAX_RUNNING_TOTAL)


@PROPERTY
@given(value=st.integers(min_value=0, max_value=MAX_RUNNING_TOTAL))
def test_running_total_keeps_the_signed_text_for_numbers_and_digit_strings(value):
    for sent in (value, str(value)):
        serializer = TaskCallbackRequest(data={"track_id": "t", "event": "e", "sign": "s", "value": sent})
        assert serializer.is_valid()
        assert serializer.validated_data["value"] == str(value)


@PROPERTY
@given(
    schema=st.sampled_from([RegisterRequestSchema, AckRequestSchema]),
    body=st.dictionaries(st.sampled_from(["pid", "device_id", "ids"]) | text, json_values, max_size=4),
)
def test_app_request_validation_refuses_unknown_fields_and_never_raises_otherwise(schema, body):
    serializer = schema(data=body)
    try:
        serializer.is_valid()
    except Refused as error:
        assert error.code == "unknown_field"
        assert set(body) - set(serializer.fields)
        return
    assert not set(body) - set(serializer.fields)
