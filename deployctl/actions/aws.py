"""The one way the built-in actions reach AWS: a :class:`Clients` factory.

One ``boto3.Session`` per process (sessions are not thread-safe to create
clients from concurrently, and each new one re-reads the config files), and
one client per (service, region), built once under a lock and then shared:
botocore clients are thread-safe.  Throttling and 5xx errors are retried by
botocore's *standard* retry mode, never by a loop of ours.

Our retry settings are defaults only: ``AWS_RETRY_MODE``/``AWS_MAX_ATTEMPTS``
or ``retry_mode``/``max_attempts`` in the AWS config file win, as they do
for every AWS tool.
"""

from __future__ import annotations

import threading
from typing import Any

import boto3
from botocore.config import Config

from deployctl import __version__

DEFAULT_ATTEMPTS = 5


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
    ) -> None:
        if max_attempts is not None and max_attempts < 1:
            raise ValueError("max_attempts counts the first try too: it must be at least 1")
        self.session = session or boto3.Session(profile_name=profile, region_name=region)
        self.region = region or self.session.region_name
        self.endpoint_url = endpoint_url
        self.config = Config(
            retries=retries(self.session, max_attempts), user_agent_extra=user_agent_extra
        )
        self._lock = threading.Lock()
        self._clients: dict[tuple[str, str | None, float | None], Any] = {}

    def client(
        self, service: str, region: str | None = None, *, read_timeout: float | None = None
    ) -> Any:
        """The shared client for ``service`` in ``region`` (default: the session's).

        ``read_timeout`` gives a separate client for calls that legitimately
        block longer than botocore's 60 s default (a synchronous Lambda invoke).
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
                self._clients[key] = found
            return found
