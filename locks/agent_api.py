"""The portal's side of the on-site agent protocol (/agent/v1/...). The agent calls out only:
enroll once, then report locks, long-poll jobs and post their results with its Bearer token."""

from __future__ import annotations

from rest_framework import authentication, exceptions, serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from locks.agents import agent_enroll, agent_for_token, job_finish, jobs_wait, locks_report
from portal.throttling import StrangerRateThrottle, note_failed_authentication


class AgentAuthentication(authentication.BaseAuthentication):
    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        scheme, _, raw = header.partition(" ")
        if scheme != "Bearer" or not raw.strip():
            return None
        agent = agent_for_token(raw.strip())
        if agent is None:
            if note_failed_authentication(request):
                raise exceptions.Throttled(detail="Too many invalid agent tokens.")
            raise exceptions.AuthenticationFailed("Invalid agent token.")
        return (None, agent)

    def authenticate_header(self, request) -> str:
        return "Bearer"


class IsAgent(BasePermission):
    def has_permission(self, request, view) -> bool:
        from locks.models import Agent

        if not isinstance(request.auth, Agent):
            raise exceptions.NotAuthenticated("Send Authorization: Bearer <agent token>.")
        return True


class AgentView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]
    throttle_classes = []


class EnrollSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)
    name = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")


class EnrollView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [StrangerRateThrottle]

    def post(self, request):
        incoming = EnrollSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        enrolled = agent_enroll(
            token=incoming.validated_data["token"], name=incoming.validated_data["name"]
        )
        if enrolled is None:
            note_failed_authentication(request)
            return Response(
                {"detail": "This enrollment token is unknown, used or expired."}, status=403
            )
        agent, raw = enrolled
        return Response({"agent_id": agent.pk, "agent_token": raw}, status=status.HTTP_201_CREATED)


class ReportedLockSerializer(serializers.Serializer):
    address = serializers.CharField(max_length=64)
    nuki_id = serializers.IntegerField(required=False, allow_null=True)
    name = serializers.CharField(max_length=80, required=False, allow_blank=True)
    paired = serializers.BooleanField(required=False, default=False)
    state = serializers.CharField(max_length=24, required=False, allow_null=True)
    battery_percent = serializers.IntegerField(
        required=False, allow_null=True, min_value=0, max_value=100
    )
    battery_critical = serializers.BooleanField(required=False, allow_null=True)


class LocksReportSerializer(serializers.Serializer):
    locks = ReportedLockSerializer(many=True)


class LocksView(AgentView):
    def post(self, request):
        incoming = LocksReportSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        locks = locks_report(agent=request.auth, locks=incoming.validated_data["locks"])
        return Response({"locks": [{"id": lock.pk, "address": lock.ble_address} for lock in locks]})


class JobsView(AgentView):
    def get(self, request):
        try:
            wait = float(request.query_params.get("wait", 0))
        except ValueError:
            return Response({"wait": ["A number of seconds."]}, status=400)
        jobs = jobs_wait(agent=request.auth, wait=wait)
        return Response(
            {
                "jobs": [
                    {"id": j.pk, "address": j.lock.ble_address, "kind": j.kind, "params": j.params}
                    for j in jobs
                ]
            }
        )


class ResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    result = serializers.DictField(required=False, default=dict)
    error = serializers.DictField(required=False, default=dict)


class JobResultView(AgentView):
    def post(self, request, pk: int):
        incoming = ResultSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        if not job_finish(agent=request.auth, job_id=pk, **incoming.validated_data):
            return Response({"detail": "No such job waiting for a result."}, status=404)
        return Response({"ok": True})


class EventsView(AgentView):
    def post(self, request):
        return Response({"ok": True})
