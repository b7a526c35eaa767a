"""`Authorization: Bearer <app token>` for the reward app's own API (tokens come from registration)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import BasePermission

from catalog.services import hash_secret
from ledger.models import AppToken, RewardUser
from ledger.services import record_app_token_use, user_banned
from rewardhub import auth_throttle

INVALID_TOKEN_MESSAGE = "Invalid or revoked app token."  # noqa: S105 - a message, not a secret


class AppTokenAuthentication(BaseAuthentication):
    """Sets `request.user` to the RewardUser and `request.auth` to the AppToken (one query: token + user + app)."""

    def authenticate(self, request):
        scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return None  # no credentials: the permission answers 401
        ip = auth_throttle.client_ip(request)
        if retry_after := auth_throttle.is_blocked("app", ip):
            raise auth_throttle.throttled(retry_after)
        token = (
            AppToken.objects.select_related("user__store_app")
            .filter(token_hash=hash_secret(credentials.strip()), revoked_at=None)
            .first()
        )
        if token is None:
            auth_throttle.record_failure("app", ip)
            raise AuthenticationFailed(INVALID_TOKEN_MESSAGE)  # 401 with WWW-Authenticate
        record_app_token_use(token=token)
        return token.user, token

    def authenticate_header(self, request):
        return 'Bearer realm="app"'  # makes DRF answer 401, not 403, when credentials are missing


class IsActiveAppUser(BasePermission):
    """A valid app token of a user no operator has banned."""

    def has_permission(self, request, view):
        if not isinstance(request.user, RewardUser):
            return False
        if request.user.is_banned:
            raise user_banned()
        return True


class AppTokenScheme(OpenApiAuthenticationExtension):
    target_class = AppTokenAuthentication
    name = "AppBearer"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The app token returned by `POST /api/app/users`: `Authorization: Bearer <token>`.",
        }
