"""The portal's side of the on-site agent protocol (/agent/v1/...). The agent calls out only:
enroll once, then report locks, long-poll jobs and post their results with its Bearer token."""

from __future__ import annotations

import time

from asgiref.sync import sync_to_async
from django.db import close_old_connections, connection
from django.http import HttpRequest, HttpResponse
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import authentication, exceptions, serializers, status
from rest_framework.permissions import AllowAny, BasePermission
from rest_framework.response import Response
from rest_framework.views import APIView

from locks.integrations.ble_agent.enrollment import agent_enroll, agent_for_token, locks_report
from locks.integrations.ble_agent.jobs import (
    MAX_POLL_WAIT_SECONDS,
    TooManyPolls,
    job_finish,
    jobs_wait,
    poll_slot,
)
from locks.integrations.ble_agent.wake import wake_wait
from locks.models import Agent
from portal.services import ServiceError
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


class AgentAuthenticationScheme(OpenApiAuthenticationExtension):
    """How the OpenAPI schema describes the agent's token (found by drf-spectacular)."""

    target_class = AgentAuthentication
    name = "agentToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The token an agent got at enrollment.",
        }


class IsAgent(BasePermission):
    def has_permission(self, request, view) -> bool:
        if not isinstance(request.auth, Agent):
            raise exceptions.NotAuthenticated("Send Authorization: Bearer <agent token>.")
        return True


class AgentView(APIView):
    authentication_classes = [AgentAuthentication]
    permission_classes = [IsAgent]
    throttle_classes = []


DETAIL = inline_serializer("AgentDetail", {"detail": serializers.CharField()})


class EnrollSerializer(serializers.Serializer):
    token = serializers.CharField(max_length=200)
    name = serializers.CharField(max_length=80, required=False, allow_blank=True, default="")


class EnrollView(APIView):
    authentication_classes = []
    permission_classes = [AllowAny]
    throttle_classes = [StrangerRateThrottle]

    @extend_schema(
        request=EnrollSerializer,
        responses={
            201: inline_serializer(
                "AgentEnrolled",
                {"agent_id": serializers.IntegerField(), "agent_token": serializers.CharField()},
            ),
            403: DETAIL,
        },
    )
    def post(self, request):
        incoming = EnrollSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        try:
            enrolled = agent_enroll(
                token=incoming.validated_data["token"], name=incoming.validated_data["name"]
            )
        except ServiceError as exc:  # the organization has as many agents as it may
            return Response({"detail": str(exc)}, status=400)
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
    @extend_schema(
        request=LocksReportSerializer,
        responses=inline_serializer(
            "AgentLocks",
            {
                "locks": inline_serializer(
                    "AgentLock",
                    {"id": serializers.IntegerField(), "address": serializers.CharField()},
                    many=True,
                )
            },
        ),
    )
    def post(self, request):
        incoming = LocksReportSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        locks = locks_report(agent=request.auth, locks=incoming.validated_data["locks"])
        return Response({"locks": [{"id": lock.pk, "address": lock.ble_address} for lock in locks]})


class JobsView(AgentView):
    @extend_schema(
        parameters=[
            OpenApiParameter(
                "wait", float, description="Seconds to wait for a job (long poll).", required=False
            )
        ],
        responses=inline_serializer(
            "AgentJobs",
            {
                "jobs": inline_serializer(
                    "AgentJob",
                    {
                        "id": serializers.IntegerField(),
                        "address": serializers.CharField(),
                        "kind": serializers.CharField(),
                        "params": serializers.DictField(),
                    },
                    many=True,
                )
            },
        ),
    )
    def get(self, request):
        """The answer without waiting. GET on the URL is served by the async view `as_view()`
        returns (`_poll`), which waits for jobs without holding a thread; this method gives
        the schema its shape and any synchronous caller of the class an answer."""
        agent, _ = self._admit(request)
        try:
            with poll_slot(agent=agent, wait=0):
                return Response(self._payload(jobs_wait(agent=agent, wait=0)))
        except TooManyPolls as exc:
            return Response({"detail": str(exc)}, status=429, headers={"Retry-After": "5"})

    @staticmethod
    def _wait(request) -> float:
        try:
            return float(request.query_params.get("wait", 0))
        except ValueError:
            raise exceptions.ValidationError({"wait": ["A number of seconds."]}) from None

    def _admit(self, request) -> tuple:
        """(the authenticated agent, seconds to wait at most)."""
        return request.auth, max(0.0, min(self._wait(request), MAX_POLL_WAIT_SECONDS))

    @staticmethod
    def _payload(jobs) -> dict:
        return {
            "jobs": [
                {"id": j.pk, "address": j.lock.ble_address, "kind": j.kind, "params": j.params}
                for j in jobs
            ]
        }

    @classmethod
    def as_view(cls, **initkwargs):
        """GET as an async view: the token check, the poll slot and each claim are short
        database calls; between them the poll waits on the event loop
        (locks.integrations.ble_agent.wake), so idle agents occupy no worker of a bounded pool
        and no database connection. Other methods: DRF as usual."""
        sync_view = super().as_view(**initkwargs)

        async def view(request: HttpRequest, *args, **kwargs) -> HttpResponse:
            if request.method != "GET":
                return await sync_to_async(sync_view)(request, *args, **kwargs)
            return await _poll(cls, initkwargs, request, args, kwargs)

        view.cls, view.initkwargs, view.csrf_exempt = cls, initkwargs, True
        return view


def _db(func):
    """`func` as a coroutine on asgiref's thread-sensitive thread (under portal.asgi one thread
    that every poll of the process takes turns on; in a sync test, the test's own thread, with
    its transaction), with the connection given back after it: under portal.asgi (a pool,
    CONN_MAX_AGE 0) a waiting poll holds no database connection and no thread."""

    def run(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        finally:
            if not connection.in_atomic_block:  # a test's transaction stays
                close_old_connections()

    return sync_to_async(run)


def _start(cls, initkwargs, request, args, kwargs):
    """DRF's own dispatch up to the handler (authentication, permission), then the wait and
    the poll slot: (view, drf request, agent, wait, slot) or (view, drf request, response)."""
    self = cls(**initkwargs)
    self.setup(request, *args, **kwargs)
    drf_request = self.initialize_request(request, *args, **kwargs)
    self.request, self.headers = drf_request, self.default_response_headers
    try:
        self.initial(drf_request, *args, **kwargs)
        agent, wait = self._admit(drf_request)
        slot = poll_slot(agent=agent, wait=wait)
        slot.__enter__()
    except TooManyPolls as exc:
        response = Response({"detail": str(exc)}, status=429, headers={"Retry-After": "5"})
        return self, drf_request, self.finalize_response(drf_request, response).render()
    except Exception as exc:  # DRF's answers: 401, 403, 400, 429
        response = self.handle_exception(exc)
        return self, drf_request, self.finalize_response(drf_request, response).render()
    return self, drf_request, agent, wait, slot


def _claim(agent):
    return list(jobs_wait(agent=agent, wait=0))  # one claim pass: job selection is agents.py's


def _finish(self, drf_request, slot, jobs) -> HttpResponse:
    slot.__exit__(None, None, None)
    response = Response(self._payload(jobs))
    return self.finalize_response(drf_request, response).render()


async def _poll(cls, initkwargs, request, args, kwargs) -> HttpResponse:
    started = await _db(_start)(cls, initkwargs, request, args, kwargs)
    if len(started) == 3:
        return started[2]
    self, drf_request, agent, wait, slot = started
    jobs: list = []
    try:
        deadline = time.monotonic() + wait
        # Check, then wait: a job committed after the check has pushed a wake that the wait
        # takes at once (or, without Redis, the next check finds it).
        jobs = await _db(_claim)(agent)
        while not jobs and (remaining := deadline - time.monotonic()) > 0:
            await wake_wait(agent_id=agent.pk, timeout=remaining)
            jobs = await _db(_claim)(agent)
    except BaseException:
        await _db(slot.__exit__)(None, None, None)
        raise
    return await _db(_finish)(self, drf_request, slot, jobs)


class ResultSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    result = serializers.DictField(required=False, default=dict)
    error = serializers.DictField(required=False, default=dict)


OK = inline_serializer("AgentOk", {"ok": serializers.BooleanField()})


class JobResultView(AgentView):
    @extend_schema(request=ResultSerializer, responses={200: OK, 404: DETAIL})
    def post(self, request, pk: int):
        incoming = ResultSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        if not job_finish(agent=request.auth, job_id=pk, **incoming.validated_data):
            return Response({"detail": "No such job waiting for a result."}, status=404)
        return Response({"ok": True})


class EventsView(AgentView):
    @extend_schema(request=None, responses=OK)
    def post(self, request):
        return Response({"ok": True})
