"""The reward app's view of partner postbacks: the levels its user reached that it has not applied yet, and
acknowledging them. Routed under /api/app/ (partner.app_urls) beside the ledger's app API, which it builds on."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.response import Response

from ledger.api import AUTH_ERRORS, LIST_ERRORS, AppApi, AppListApi, NewestFirstPagination
from postbacks.models import UserPostback
from postbacks.partner.services import ack_postbacks
from postbacks.selectors import unapplied_postbacks
from rewardhub.inputs import StrictSerializer
from rewardhub.schema import error_responses

MAX_ACK_IDS = 500


class AppPostbackSchema(serializers.ModelSerializer):
    gid = serializers.CharField(source="game.gid")

    class Meta:
        model = UserPostback
        fields = ["id", "gid", "pid", "level_number", "awarded", "coin_delta", "created_at"]
        extra_kwargs = {"level_number": {"min_value": 1}}  # as the postback_level_positive constraint holds it


class OldestFirstPagination(NewestFirstPagination):
    ordering = "id"


class AppPostbackListApi(AppListApi):
    serializer_class = AppPostbackSchema
    pagination_class = OldestFirstPagination

    def get_queryset(self):
        return unapplied_postbacks(self.request.user.pk)

    @extend_schema(
        operation_id="app_postbacks",
        summary="Postbacks the app has not applied yet, oldest first",
        description="Cursor-paginated. Acknowledge applied ones with `POST /api/app/me/postbacks/ack`.",
        tags=["Reward app"],
        responses={
            200: AppPostbackSchema(many=True),
            **error_responses(LIST_ERRORS, (404, "not_found: an invalid cursor"), *AUTH_ERRORS),
        },
    )
    def get(self, request, *args, **kwargs):
        return super().get(request, *args, **kwargs)


class AckRequestSchema(StrictSerializer):
    ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=2**63 - 1),
        min_length=1,
        max_length=MAX_ACK_IDS,
        help_text="Postback ids the app has applied.",
    )


class AckResponseSchema(serializers.Serializer):
    acked = serializers.ListField(child=serializers.IntegerField(), help_text="Marked applied by this call.")
    already_acked = serializers.ListField(child=serializers.IntegerField(), help_text="Applied earlier; unchanged.")
    not_found = serializers.ListField(child=serializers.IntegerField(), help_text="Not a postback of this user.")


class AppPostbackAckApi(AppApi):
    @extend_schema(
        operation_id="app_postbacks_ack",
        summary="Mark postbacks as applied by the app",
        description="Idempotent: acking again, or an id that is not this user's, changes nothing and says so.",
        tags=["Reward app"],
        request=AckRequestSchema,
        responses={
            200: AckResponseSchema,
            **error_responses(
                (400, "invalid_json, invalid_request, unknown_field"), *AUTH_ERRORS, (413, "payload_too_large")
            ),
        },
    )
    def post(self, request):
        params = AckRequestSchema(data=request.data)
        params.is_valid(raise_exception=True)
        result = ack_postbacks(user_id=request.user.pk, ids=params.validated_data["ids"])
        return Response(AckResponseSchema(result).data)
