"""The moto server the end-to-end tests point ``--endpoint-url`` at, and a
handle on it (clients, moto's control API)."""

from __future__ import annotations

import importlib
import io
import json
import logging
import os
import threading
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import boto3
from botocore.config import Config
from moto import backends as moto_backends
from moto.core.botocore_stubber import BotocoreStubber
from moto.server import ThreadedMotoServer

from deployctl.testing.aws import REGION
from deployctl.testing.motostate import kept

# moto's service models (DynamoDB, CloudWatch, SSM) are imported where they
# are patched: importing moto.ssm imports moto.ec2, whose instance types and
# endpoint tables cost seconds of JSON in every process that loads the
# pytest plugin, the xdist controller included.

# The moto services the suite's worlds use (CloudFormation's models import
# most of the rest): .ci/run imports them once, beside the linters, so their
# bytecode is written before three workers compile them at once.
SERVICE_MODELS = (
    "awslambda_simple",
    "cloudformation",
    "cloudfront",
    "cloudwatch",
    "dynamodb",
    "ecs",
    "elbv2",
    "iam",
    "logs",
    "rds",
    "route53",
    "ssm",
    "stepfunctions",
)


def import_service_models() -> None:
    for service in SERVICE_MODELS:
        importlib.import_module(f"moto.{service}.models")


AMIS_SETTING = "MOTO_EC2_LOAD_DEFAULT_AMIS"
T = TypeVar("T")

# DynamoDB applies a conditional write atomically: the condition is checked
# and the item written as one step.  moto checks, then writes, with no lock,
# so two threads (two acquirers in a test, two requests on the moto server)
# can both pass ``attribute_not_exists`` and both "win" a lock.  These are
# the backend's writes that evaluate a condition.
_DYNAMODB_WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
# CloudWatch: moto's alarm readers hand back live views of one dict that the
# response is rendered from later; a PutMetricAlarm on another thread (another
# Step Functions execution, another request) makes that fail with "dictionary
# changed size during iteration", which AWS never does.  Readers return a
# list, made under the same lock the writers take.
_ALARM_WRITES = ("put_metric_alarm", "delete_alarms", "set_alarm_state")
_ALARM_READS = (
    "describe_alarms",
    "get_alarms_by_action_prefix",
    "get_alarms_by_alarm_name_prefix",
    "get_alarms_by_alarm_names",
    "get_alarms_by_state_value",
)
# SSM: a put makes the parameter's list of versions first and appends to it
# after, so a read on another thread (a test polling for the approval token
# a Step Functions execution is putting) can find the list empty and fail
# with IndexError, which AWS never does.  Each runs whole, one at a time.
_PARAMETER_CALLS = (
    "put_parameter",
    "delete_parameter",
    "delete_parameters",
    "get_parameter",
    "get_parameters",
    "get_parameters_by_path",
    "describe_parameters",
)
_ONE_AT_A_TIME = threading.RLock()


class _Doorway:
    """The server's WSGI app, wrapped: counts the requests being served, and
    can hold new ones at the door until none is (:meth:`MotoServer.quiet`).

    A request counts once its whole body has arrived.  botocore (urllib3)
    sends the headers and the body in two writes, so a client stopped between
    them leaves a request that would wait for its body forever; uncounted, it
    is one that has not arrived yet, as it never does if the client is killed.
    """

    def __init__(self, app: Any) -> None:
        self.app = app
        self._changed = threading.Condition()
        self._serving = 0
        self._closed = False
        self.served = 0  # requests answered so far

    def __call__(self, environ: Any, start_response: Any) -> Any:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            environ["wsgi.input"] = io.BytesIO(environ["wsgi.input"].read(length))
        with self._changed:
            self._changed.wait_for(lambda: not self._closed)
            self._serving += 1
        try:
            return self.app(environ, start_response)
        finally:
            with self._changed:
                self._serving -= 1
                self.served += 1
                self._changed.notify_all()

    @contextmanager
    def closed(self, timeout: float = 30.0) -> Iterator[None]:
        with self._changed:
            self._closed = True
            if not self._changed.wait_for(lambda: self._serving == 0, timeout):
                self._closed = False
                self._changed.notify_all()
                raise RuntimeError(f"the moto server was still serving after {timeout} s")
        try:
            yield
        finally:
            with self._changed:
                self._closed = False
                self._changed.notify_all()


# url -> the door of the moto server there (one per test process).
_DOORS: dict[str, _Doorway] = {}


def _serialized(method: Any, *, listed: bool) -> Any:
    def serialized(*args: Any, **kwargs: Any) -> Any:
        with _ONE_AT_A_TIME:
            found = method(*args, **kwargs)
            return list(found) if listed else found

    return serialized


_USERS: dict[type, int] = {}  # cls -> how many contexts want it patched now
_REAL: dict[type, dict[str, Any]] = {}


@contextmanager
def _patched(cls: type, writes: tuple[str, ...], reads: tuple[str, ...] = ()) -> Iterator[None]:
    """Within: those methods of ``cls`` run one at a time (reads return lists).
    Counted, not nested: a session's moto server and a test's fixture may
    start and end in any order, and ``cls`` stays patched while either lives."""
    with _ONE_AT_A_TIME:
        if not _USERS.get(cls):
            _REAL[cls] = {name: cls.__dict__[name] for name in (*writes, *reads)}
            for name, method in _REAL[cls].items():
                setattr(cls, name, _serialized(method, listed=name in reads))
        _USERS[cls] = _USERS.get(cls, 0) + 1
    try:
        yield
    finally:
        with _ONE_AT_A_TIME:
            _USERS[cls] -= 1
            if not _USERS[cls]:
                for name, method in _REAL.pop(cls).items():
                    setattr(cls, name, method)


@contextmanager
def atomic_dynamodb_writes() -> Iterator[None]:
    """Within: moto's DynamoDB applies each conditional write atomically, as
    DynamoDB does, so a race between lock acquirers tests deployctl's
    conditions rather than moto's missing lock."""
    from moto.dynamodb.models import DynamoDBBackend  # noqa: PLC0415 - see the imports

    with _patched(DynamoDBBackend, _DYNAMODB_WRITES):
        yield


@contextmanager
def consistent_alarms() -> Iterator[None]:
    """Within: moto's CloudWatch alarms can be read while other threads put
    alarms (see ``_ALARM_READS``), as on AWS."""
    from moto.cloudwatch.models import CloudWatchBackend  # noqa: PLC0415 - see the imports

    with _patched(CloudWatchBackend, _ALARM_WRITES, _ALARM_READS):
        yield


@contextmanager
def consistent_parameters() -> Iterator[None]:
    """Within: moto's SSM parameters can be read while other threads put
    them (see ``_PARAMETER_CALLS``), as on AWS."""
    from moto.ssm.models import SimpleSystemManagerBackend  # noqa: PLC0415 - see the imports

    with _patched(SimpleSystemManagerBackend, _PARAMETER_CALLS):
        yield


@contextmanager
def thread_safe_moto() -> Iterator[None]:
    """All of the above: where moto's threads race and AWS does not."""
    with atomic_dynamodb_writes(), consistent_alarms(), consistent_parameters():
        yield


@dataclass
class MotoServer:
    """A handle on a moto server: clients of its ``session`` (made once per
    service and region: a client costs tens of milliseconds), and its URL
    for the CLI runs under test (``--endpoint-url``).

    The server is a thread of this process, so the test's own calls (building
    a world, reading its end state) need not cross HTTP: :meth:`client`'s
    requests are handed to moto's dispatcher in process, as ``mock_aws``
    does, and reach the same backends the server serves.  Half the CPU of a
    call, most of it the werkzeug server's and http.client's; the answers
    are the same.  The runs under test always go through the server."""

    url: str
    session: boto3.Session
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _dispatch: BotocoreStubber = field(default_factory=BotocoreStubber, repr=False)

    def __post_init__(self) -> None:
        self._dispatch.enabled = True

    def client(self, service: str, region: str = REGION) -> Any:
        with self._lock:
            made = self._clients.get((service, region))
            if made is None:
                # botocore gzips large PutMetricData bodies, which moto fails
                # to read back (BadGzipFile): send them plain.
                config = Config(disable_request_compression=True)
                made = self.session.client(service, region_name=region, config=config)
                # Before anything else: moto answers, nothing is sent.
                made.meta.events.register_first("before-send", self._dispatch)
                self._clients[(service, region)] = made
            return made

    def moto_api(self, path: str, body: Any = None, method: str = "POST") -> Any:
        """Call moto's own control API (``/moto-api/...``); the JSON answer, if any."""
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.url}/moto-api/{path}", data=data, method=method)
        with urllib.request.urlopen(request, timeout=10) as answer:
            text = answer.read()
        return json.loads(text) if text else None

    def reset(self) -> None:
        self.moto_api("reset")

    def world(self, name: str, build: Callable[[MotoServer], T]) -> T:
        """The world ``build`` makes on an empty server, and what it returned.

        Built once per process and kept as a copy of moto's backends; after
        that, each call puts that copy back (tens of milliseconds instead of
        the hundreds a rebuild over HTTP costs).  Valid because the server
        is a thread of this process (:func:`moto_server`) and idle between
        tests.  Whatever else the server holds is dropped, as by a reset.
        """

        def built() -> T:
            self.reset()
            return build(self)

        return kept((self.url, name), built)

    @contextmanager
    def quiet(self) -> Iterator[None]:
        """While inside, no request is being served and new ones wait: moto's
        state holds still (to :func:`~deployctl.testing.motostate.snapshot`
        it while a paused CLI run's last request may still be in flight)."""
        with _DOORS[self.url].closed():
            yield

    def served(self) -> int:
        """How many requests the server has answered over HTTP (a CLI run's;
        not :meth:`client`'s, which skip it).  While a paused run is the
        only thing that asks moto anything, the same count, read while
        :meth:`quiet`, means the same state (:class:`~deployctl.testing.cuts.Cuts`)."""
        return _DOORS[self.url].served

    def lambda_answers(self, *results: Any, region: str = REGION) -> None:
        """Queue what the next invokes of the docker-less Lambda return, one each."""
        answers = [json.dumps(r) for r in results]
        self.moto_api("static/lambda-simple/response", {"results": answers, "region": region})


@contextmanager
def moto_server() -> Iterator[str]:
    """A moto server on 127.0.0.1 (a thread of this process); its URL.  Its
    DynamoDB writes are atomic and its alarms safe to read while others are
    put (:func:`thread_safe_moto`): requests are served on threads, and two
    CLI processes race for one lock."""
    with thread_safe_moto(), _listed_once():
        yield from _moto_server()


@contextmanager
def _listed_once() -> Iterator[None]:
    """moto's server lists its own package directory (a listdir and a stat
    per service) for every request it routes: a fifth of a request's CPU.
    The list cannot change while the server runs, so it is made once."""
    real = moto_backends.list_of_moto_modules
    listed = tuple(real())
    moto_backends.list_of_moto_modules = lambda: iter(listed)
    try:
        yield
    finally:
        moto_backends.list_of_moto_modules = real


def _moto_server() -> Iterator[str]:
    # One log line per request, formatted and captured by pytest for every
    # test: noise in a failure's report, and CPU.  Warnings still show.
    werkzeug = logging.getLogger("werkzeug")
    level = werkzeug.level
    werkzeug.setLevel(logging.WARNING)
    # EC2 (RDS and ELB worlds touch it) would load ~1,000 sample AMIs into
    # every fresh backend, after each reset: most of a crash-matrix cut's
    # server time.  moto reads the setting when a backend is made, so it is
    # set for the server's life and put back after.
    amis = os.environ.get(AMIS_SETTING)
    os.environ[AMIS_SETTING] = "false"
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    url = f"http://{host}:{port}"
    # werkzeug's server calls its ``app`` for each request: put the door there.
    wsgi = server._server
    assert wsgi is not None
    _DOORS[url] = door = _Doorway(wsgi.app)
    wsgi.app = door
    handle = MotoServer(url, boto3.Session(region_name=REGION))
    # Lambda invokes without Docker: a moto *server* takes its configuration
    # through /moto-api/config (there is no environment variable for it), and
    # must get it before any function exists, because the docker-less Lambda
    # keeps its functions apart.  The setting is global to this process (the
    # server is a thread of it), so the old value is put back at the end.
    before = handle.moto_api("config", method="GET")["lambda"]
    handle.moto_api("config", {"lambda": {"use_docker": False}})
    try:
        yield url
    finally:
        handle.moto_api("config", {"lambda": before})
        server.stop()
        del _DOORS[url]
        werkzeug.setLevel(level)
        if amis is None:
            os.environ.pop(AMIS_SETTING, None)
        else:
            os.environ[AMIS_SETTING] = amis
