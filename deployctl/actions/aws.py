"""The one way the built-in actions reach AWS: a :class:`Clients` factory.

One ``boto3.Session`` per process (sessions are not thread-safe to create
clients from concurrently, and each new one re-reads the config files), and
one client per (service, region), built once under a lock and then shared:
botocore clients are thread-safe.  Throttling and 5xx errors are retried by
botocore's *standard* retry mode, never by a loop of ours.

Every request a client is about to send for a call that changes something
(anything but ``Get*``, ``List*``, ``Describe*``...) first passes the
:class:`~deployctl.state.lease.SendGuard`: while a run holds its lock, a
request is not sent when less of the lease is left than one attempt can take
(10 s to connect + 30 s to read, under the 45 s margin).

Our retry settings are defaults only: ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS``
or ``retry_mode``/``max_attempts`` in the AWS config file win, as they do
for every AWS tool.
"""

from __future__ import annotations

import threading
from typing import Any

from botocore.config import Config

from deployctl import __version__
from deployctl.awssession import session as aws_session
from deployctl.state.lease import SendGuard

DEFAULT_ATTEMPTS = 5
CONNECT_TIMEOUT = 10.0
READ_TIMEOUT = 30.0  # one attempt: what the lease's send margin must outlast
_READS = (
    "Get",
    "List",
    "Describe",
    "Head",
    "Lookup",
    "Search",
    "Query",
    "Scan",
    "BatchGet",
    "Select",
    "Filter",
    "Test",
    "Estimate",
    "Validate",
)


def mutating(operation: str) -> bool:
    """Whether an API operation may change something (reads are never guarded)."""
    return not operation.startswith(_READS)


def retries(session: Any, max_attempts: int | None) -> dict[str, Any]:
    """Our retry defaults, minus what the user set for botocore.

    A key left out of a client's ``retries`` falls back to botocore's own
    settings (environment, then config file), so we leave out whatever those
    set.  ``total_max_attempts`` counts the first try, like AWS_MAX_ATTEMPTS
    and the config file; Config's own ``max_attempts`` would count retries only.
    """
    core = getattr(session, "_session", None)  # botocore's session holds the settings

    def user_set(name: str) -> bool:
        return core is not None and core.get_config_variable(name) is not None

    out: dict[str, Any] = {}
    if not user_set("retry_mode"):
        out["mode"] = "standard"
    if max_attempts is not None or not user_set("max_attempts"):
        out["total_max_attempts"] = max_attempts or DEFAULT_ATTEMPTS
    return out


class Clients:
    """Cached, thread-safe boto3 clients for every (service, region) pair.

    ``endpoint_url`` points every client at one endpoint (a moto server or
    LocalStack); ``max_attempts`` is botocore's total attempts per call,
    first try included.
    """

    def __init__(
        self,
        *,
        profile: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        max_attempts: int | None = None,
        session: Any = None,
        user_agent_extra: str = f"deployctl/{__version__}",
        guard: SendGuard | None = None,
    ) -> None:
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts counts the first try too: it must be at least 1")
        self.session = session or aws_session(profile, region)
        self.region = region or self.session.region_name
        self.endpoint_url = endpoint_url
        self.config = Config(
            retries=retries(self.session, max_attempts),
            user_agent_extra=user_agent_extra,
            connect_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )
        self.guard = guard
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str | None, float | None], Any] = {}

    def client(
        self, service: str, region: str | None = None, *, read_timeout: float | None = None
    ) -> Any:
        """The shared client for ``service`` in ``region`` (default: the session's).

        ``read_timeout`` gives a separate client for calls that legitimately
        block longer than the 30 s default (a synchronous Lambda invoke).
        """
        key = (service, region or self.region, read_timeout)
        found = self._clients.get(key)
        if found is not None:
            return found
        with self._lock:  # creating clients from one session is not thread-safe
            found = self._clients.get(key)
            if found is None:
                config = self.config
                if read_timeout is not None:
                    config = config.merge(Config(read_timeout=read_timeout))
                found = self.session.client(
                    service, region_name=key[1], endpoint_url=self.endpoint_url, config=config
                )
                if self.guard is not None:
                    found.meta.events.register_first("before-send", self._before_send)
                self._clients[key] = found
            return found

    def _before_send(self, event_name: str = "", **kwargs: Any) -> None:
        """Once per attempt (botocore's retries too): ``before-send.<service>.<Operation>``."""
        parts = [*event_name.split("."), "", ""]
        service, operation = parts[1], parts[2]
        if self.guard is not None and mutating(operation):
            self.guard.check(f"{service} {operation}")
