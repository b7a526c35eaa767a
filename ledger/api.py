"""The reward app's own API: registration, balance, ledger history, postback sync and install links."""

from urllib.parse import quote

from django.http import HttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import exceptions, generics, serializers, status
from rest_framework.pagination import CursorPagination
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.throttling import ScopedRateThrottle
from rest_framework.views import APIView

from catalog.models import RewardGame
from catalog.selectors import installable_games
from ledger.authentication import INVALID_TOKEN_MESSAGE, AppTokenAuthentication, IsActiveAppUser
from ledger.models import LedgerEntry, RewardUser
from ledger.selectors import user_entries
from ledger.services import InstallNotVerified, register_app_user, token_holder, user_banned
from rewardhub import auth_throttle
from rewardhub.db import Database
from rewardhub.errors import error_body, json_api_status
from rewardhub.inputs import LimitedJSONParser, StrictSerializer, reject_repeated_query_params
from rewardhub.schema import error_responses

PLAY_STORE_DETAILS_URL = "https://play.google.com/store/apps/details"
AUTH_ERRORS = (
    (401, "unauthorized: missing, invalid or revoked app token"),
    (403, "user_banned: an operator banned this user"),
    (429, "throttled: too many failed authentications from this IP; see Retry-After"),
)
LIST_ERRORS = (
    400,
    "repeated_parameter: a query parameter (cursor, page_size) sent twice; too_many_parameters: over 1000 of them",
)


class AppUserSchema(serializers.ModelSerializer):
    """The seed's user shape."""

    appId = serializers.CharField(source="store_app.pid", help_text="The user's store app pid.")
    deviceId = serializers.CharField(source="device_id")
    heldCoins = serializers.IntegerField(
        source="held_coins", help_text="Coins an offer network holds as pending: shown, not yet spendable."
    )

    class Meta:
        model = RewardUser
        fields = ["id", "coins", "heldCoins", "appId", "deviceId"]
        extra_kwargs = {"coins": {"help_text": "Available coins."}}


class RegisterRequestSchema(StrictSerializer):
    pid = serializers.CharField(max_length=64, help_text="The reward app's store app pid.")
    device_id = serializers.CharField(max_length=255, help_text="A stable id of this install's device.")
    install_secret = serializers.CharField(
        min_length=16,
        max_length=200,
        required=False,
        help_text="A random secret the app generated at its first launch and keeps (e.g. 32 random bytes, "
        "base64url); send it with every registration. Getting an existing device's user back needs it, or the "
        "previous app token as `Authorization: Bearer <token>`.",
    )
    reclaim_code = serializers.CharField(
        max_length=32,
        required=False,
        help_text="The one-time code support gave the owner of a reinstall that lost its install secret and token.",
    )


class RegisterResponseSchema(serializers.Serializer):
    created = serializers.BooleanField(help_text="False when this app + device was already registered.")
    token = serializers.CharField(help_text="Bearer token for the other app calls. Shown once; store it.")
    user = AppUserSchema()


class AppUserRegisterApi(APIView):
    parser_classes = [LimitedJSONParser]
    throttle_classes = [ScopedRateThrottle]
    throttle_scope = "app_register"

    @extend_schema(
        operation_id="app_register",
        summary="Register this device (or get its user back)",
        description=(
            "One user per store app + device. A first registration answers 201. Registering the device again "
            "gets the same user and coins back (200) with a new token, if it proves to be the same install: the "
            "`install_secret` sent the first time, a valid app token of that user in `Authorization: Bearer`, or "
            "the one-time `reclaim_code` support gave its owner. "
            "Otherwise 403 `install_not_verified`, counted as a failed authentication. Throttled per client IP."
        ),
        tags=["Reward app"],
        auth=[{}, {"AppBearer": []}],
        request=RegisterRequestSchema,
        responses={
            201: OpenApiResponse(RegisterResponseSchema, description="A new user."),
            200: OpenApiResponse(RegisterResponseSchema, description="The device's existing user, new token."),
            **error_responses(
                (400, "invalid_json, invalid_request, unknown_field, unknown_pid"),
                (403, "install_not_verified (no proof of the same install), user_banned (an operator banned it)"),
                (413, "payload_too_large"),
                (429, "throttled: too many registrations or failed authentications from this IP; see Retry-After"),
            ),
        },
    )
    def post(self, request):
        ip = auth_throttle.client_ip(request)
        if retry_after := auth_throttle.is_blocked("app", ip):
            raise auth_throttle.throttled(retry_after)
        params = RegisterRequestSchema(data=request.data)
        params.is_valid(raise_exception=True)
        scheme, _, app_token = request.headers.get("Authorization", "").partition(" ")
        try:
            registration = register_app_user(
                **params.validated_data, app_token=app_token.strip() if scheme.lower() == "bearer" else ""
            )
        except InstallNotVerified:
            auth_throttle.record_failure("app", ip)
            raise
        body = {
            "created": registration.created,
            "token": registration.token,
            "user": AppUserSchema(registration.user).data,
        }
        return Response(body, status=status.HTTP_201_CREATED if registration.created else status.HTTP_200_OK)


class AppApi(APIView):
    parser_classes = [LimitedJSONParser]
    authentication_classes = [AppTokenAuthentication]
    permission_classes = [IsActiveAppUser]


APP_ME_DOCS = extend_schema(
    operation_id="app_me",
    summary="The user and their available coins",
    tags=["Reward app"],
    auth=[{"AppBearer": []}],  # the fast lane's description has no authentication class to name it
    responses={200: AppUserSchema, **error_responses(*AUTH_ERRORS)},
)


class AppMeApi(AppApi):
    """GET /api/app/me as DRF serves it: every request app_me does not answer itself."""

    @APP_ME_DOCS
    def get(self, request):
        return Response(AppUserSchema(request.user).data)


_drf_app_me = AppMeApi.as_view()


async def app_me(request, db: Database) -> HttpResponse:
    """The call every app launch makes, in the fast lane (rewardhub.urls.HOT_PATHS): the app's plain GET is answered
    with one statement (token_holder), byte for byte as DRF answers it, without DRF's request wrapping,
    negotiation, serializer and ORM, or Django's middleware. Any other request (OPTIONS, other methods, a query
    string, an Accept header other than JSON's) goes to AppMeApi, DRF's own answer."""
    if not is_plain_read(request.META):
        return await db.orm(lambda: _drf_app_me(request).render())
    response = await _read_me(request, db)
    response["Allow"] = ALLOWED_METHODS
    return response


async def _read_me(request, db: Database) -> HttpResponse:
    """AppTokenAuthentication and IsActiveAppUser, in their order, then AppMeApi.get."""
    scheme, _, credentials = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    if scheme.lower() != "bearer":
        return app_unauthorized(exceptions.NotAuthenticated())
    ip = auth_throttle.client_ip(request)
    if retry_after := await auth_throttle.ais_blocked("app", ip):
        throttled = auth_throttle.throttled(retry_after)
        response = drf_json_response(error_body("throttled", str(throttled.detail)), throttled.status_code)
        response["Retry-After"] = str(throttled.wait)
        return response
    holder = await token_holder(db=db, token=credentials.strip())
    if holder is None:
        await auth_throttle.arecord_failure("app", ip)
        return app_unauthorized(exceptions.AuthenticationFailed(INVALID_TOKEN_MESSAGE))
    if holder.banned:
        banned = user_banned()
        return drf_json_response(error_body(banned.code, banned.message), json_api_status(banned))
    return drf_json_response(
        {
            "id": str(holder.user_id),
            "coins": holder.coins,
            "heldCoins": holder.held_coins,
            "appId": holder.pid,
            "deviceId": holder.device_id,
        }
    )


ALLOWED_METHODS = "GET, HEAD, OPTIONS"  # what DRF's Allow header says for a view with only `get`
JSON_ONLY = (None, "*/*", "application/json")  # Accept headers DRF answers with compact JSON


def is_plain_read(meta: dict) -> bool:
    """The request the app sends: GET (or HEAD) without a query string or an Accept other than JSON's."""
    method, accept = meta["REQUEST_METHOD"], meta.get("HTTP_ACCEPT")
    return method in ("GET", "HEAD") and not meta.get("QUERY_STRING") and accept in JSON_ONLY


def drf_json_response(body: dict, http_status: int = 200) -> HttpResponse:
    """The bytes DRF's JSONRenderer sends (non-ASCII kept as UTF-8), without a DRF Response."""
    return HttpResponse(JSONRenderer().render(body), status=http_status, content_type="application/json")


def app_unauthorized(error: exceptions.APIException) -> HttpResponse:
    response = drf_json_response(error_body("unauthorized", str(error.detail)), error.status_code)
    response["WWW-Authenticate"] = AppTokenAuthentication().authenticate_header(None)
    return response


class AppLedgerEntrySchema(serializers.ModelSerializer):
    class Meta:
        model = LedgerEntry
        # Not `reference` or `note`: they name staff members and internal rows the app has no use for.
        fields = ["id", "amount", "kind", "balance_after", "reverses", "created_at"]


class NewestFirstPagination(CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


class AppListApi(AppApi, generics.ListAPIView):
    """`cursor` and `page_size` must each come once: which of two would count is a guess we do not make."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        reject_repeated_query_params(request)


class AppEntryListApi(AppListApi):
    serializer_class = AppLedgerEntrySchema
    pagination_class = NewestFirstPagination

    def get_queryset(self):
        return user_entries(self.request.user.pk)

    @extend_schema(
        operation_id="app_entries",
        summary="The user's ledger entries, newest first",
        description="Cursor-paginated: follow `next` until it is null.",
        tags=["Reward app"],
        responses={
            200: AppLedgerEntrySchema(many=True),
            **error_responses(LIST_ERRORS, (404, "not_found: an invalid cursor"), *AUTH_ERRORS),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AppGameSchema(serializers.ModelSerializer):
    install_url = serializers.SerializerMethodField(help_text="Play Store link carrying pid, uid and gid.")

    class Meta:
        model = RewardGame
        fields = ["gid", "name", "play_package", "install_url"]

    def get_install_url(self, game: RewardGame) -> str:
        return play_install_url(game, self.context["user"])


class AppGameListSchema(serializers.Serializer):
    results = AppGameSchema(many=True)


def play_install_url(game: RewardGame, user: RewardUser) -> str:
    """The seed's install link: the referrer is one parameter that decodes to exactly pid=…&uid=…&gid=…."""
    referrer = f"pid={user.store_app.pid}&uid={user.pk}&gid={game.gid}"
    return f"{PLAY_STORE_DETAILS_URL}?id={quote(game.play_package, safe='')}&referrer={quote(referrer, safe='')}"


class AppGameListApi(AppApi):
    @extend_schema(
        operation_id="app_games",
        summary="Active reward games with this user's install links",
        description="Games without a Play package cannot be installed from a link and are left out.",
        tags=["Reward app"],
        responses={200: AppGameListSchema, **error_responses(*AUTH_ERRORS)},
    )
    def get(self, request):
        games = AppGameSchema(installable_games(), many=True, context={"user": request.user})
        return Response({"results": games.data})
