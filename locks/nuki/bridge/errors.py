"""The one error the bridge client raises.

Like healthchecks' transport errors, a `BridgeError` says in `permanent` whether trying the
same call again later can help. `message` says what went wrong and `fix` what a person can do
about it, both in plain words, fit to show to a property manager as written.
"""

from __future__ import annotations


class BridgeError(Exception):
    """A call to a Nuki bridge failed.

    permanent: True when repeating the same call cannot succeed until someone changes something
        (a wrong token, an unknown lock, a refused parameter); False for busy bridges, timeouts,
        unreachable bridges and locks that are out of radio range for now.
    status: the HTTP status the bridge answered with, or None when there was no answer.
    endpoint: the bridge endpoint that was called, e.g. "/lockAction".
    detail: technical detail for logs (never the token).
    retry_after: seconds before the bridge may be asked again (its 429's Retry-After, or our
        budget for it, see ..ratelimit), else None. Such an error is transient and not the
        lock's fault.
    """

    def __init__(
        self,
        message: str,
        *,
        fix: str = "",
        permanent: bool = False,
        status: int | None = None,
        endpoint: str | None = None,
        detail: str = "",
        retry_after: float | None = None,
    ):
        super().__init__(message)
        self.message = message
        self.fix = fix
        self.permanent = permanent
        self.status = status
        self.endpoint = endpoint
        self.detail = detail or message
        self.retry_after = retry_after

    @property
    def reason(self) -> str:
        """Same as `message`, named like `locks.integrations.base.DriverError.reason`."""
        return self.message

    def __reduce__(self):
        # Keep permanent/fix/status when pickled (multiprocessing, task queues).
        return (self.__class__, (self.message,), dict(self.__dict__))

    def __str__(self) -> str:
        return f"{self.message} {self.fix}".strip()

    def __repr__(self) -> str:
        return (
            f"BridgeError({self.message!r}, permanent={self.permanent}, "
            f"status={self.status}, endpoint={self.endpoint!r})"
        )
