"""moto's in-process state, kept and put back: a world built once and
restored for each test that needs it (tens of milliseconds, where building
it again through the API costs hundreds).  Works for in-process moto
(``mock_aws``) and for a moto server that is a thread of this process
(:func:`deployctl.testing.moto.moto_server`): both keep their backends in
this process's memory."""

from __future__ import annotations

import copy
import copyreg
import functools
import hashlib
import io
import pickle
import threading
import weakref
from collections import defaultdict
from collections.abc import Callable
from typing import Any, TypeVar, cast

from moto.core.base_backend import BackendDict, backend_lock
from moto.core.model_instances import reset_model_data

# Every moto service's state, as (its BackendDict, a copy of its accounts):
# pickled where the service's objects allow it (a pickle round trip costs a
# fifth of a deep copy: CloudWatch's datapoints of a crash-matrix world are
# 8 ms against 40), else a deep copy.
Backends = list[tuple[BackendDict[Any], bytes | dict[str, Any]]]
T = TypeVar("T")
# Services whose state cannot be pickled (Lambda holds a WeakValueDictionary).
_UNPICKLABLE: set[str] = set()


def _parameters(account_id: str, region_name: str) -> Any:
    from moto.ssm.models import ParameterDict  # noqa: PLC0415 - see _reducers

    return ParameterDict(account_id, region_name)


def _reduce_parameters(made: Any) -> tuple[Any, ...]:
    # A defaultdict copies itself as cls(default_factory): SSM's takes an
    # account and a region instead, so it says how to make it.
    return (_parameters, (made.account_id, made.region_name), vars(made), None, iter(made.items()))


@functools.cache
def _reducers() -> None:
    """Registered at the first snapshot, not on import: importing moto's SSM
    imports its EC2, whose instance types and endpoint tables are seconds of
    JSON, and the pytest plugin imports this module in every process."""
    from moto.ssm.models import ParameterDict  # noqa: PLC0415

    copyreg.pickle(ParameterDict, _reduce_parameters)


def _in_use() -> list[BackendDict[Any]]:
    """moto's list of the services that hold state (a class attribute)."""
    return cast(list[BackendDict[Any]], vars(BackendDict)["_instances"])


def _kept(made: BackendDict[Any]) -> bytes | dict[str, Any]:
    _reducers()
    accounts = dict(made)
    if made.service_name not in _UNPICKLABLE:
        try:
            return pickle.dumps(accounts, protocol=pickle.HIGHEST_PROTOCOL)
        except (pickle.PicklingError, TypeError, AttributeError):
            _UNPICKLABLE.add(made.service_name)
    return copy.deepcopy(accounts)


def _fresh(kept: bytes | dict[str, Any]) -> dict[str, Any]:
    if isinstance(kept, bytes):
        return cast(dict[str, Any], pickle.loads(kept))  # noqa: S301 - our own bytes
    return copy.deepcopy(kept)


def _drop() -> None:
    """Forget every backend, as ``BackendDict.reset()`` does but without
    making each one anew first (EC2 makes its default VPC and subnets in
    every region: most of a reset's cost).  S3 is reset, which closes the
    temporary files its objects are kept in."""
    in_use = _in_use()
    for made in in_use:
        if made.service_name == "s3":
            for account in made.values():
                account.reset()
        made.clear()
    in_use.clear()


def snapshot() -> Backends:
    """A copy of every moto service's state (call while no request is in flight)."""
    with backend_lock:
        return [(made, _kept(made)) for made in _in_use()]


def restore(backends: Backends) -> None:
    """Put moto's state back to ``backends``: today's backends are dropped
    (S3's reset first, which closes its spooled files), and a fresh copy of
    the kept ones takes their place."""
    with backend_lock:
        _drop()
        in_use = _in_use()
        for made, accounts in backends:
            for account, regions in _fresh(accounts).items():
                dict.__setitem__(made, account, regions)
            in_use.append(made)
        reset_model_data()


class _Fingerprint(pickle.Pickler):
    """Pickles a deep-copied service (one whose state :func:`_kept` could
    not pickle) for :func:`fingerprint` only: what stops a pickle there is a
    container's behaviour, not state (a defaultdict's factory, a
    WeakValueDictionary's weakness, a lock), so each is pickled as what it
    holds."""

    def reducer_override(self, obj: Any) -> Any:
        if isinstance(obj, defaultdict):
            return dict, (dict(obj),)
        if isinstance(obj, weakref.WeakValueDictionary):
            return dict, (dict(obj.items()),)
        if isinstance(obj, _LOCKS):
            return str, ("lock",)
        return NotImplemented


_LOCKS = (type(threading.Lock()), type(threading.RLock()))


def fingerprint(backends: Backends) -> str | None:
    """A digest of the state ``backends`` holds: two snapshots with one
    digest hold the same state, pickled byte for byte (two with different
    ones may still be equal: the digest says "the same", never "different").
    None if a service's state cannot be pickled even so."""
    digest = hashlib.sha256()
    for made, kept in backends:
        digest.update(made.service_name.encode())
        data = kept
        if not isinstance(data, bytes):
            buffer = io.BytesIO()
            try:
                _Fingerprint(buffer, protocol=pickle.HIGHEST_PROTOCOL).dump(kept)
            except (pickle.PicklingError, TypeError, AttributeError):
                return None
            data = buffer.getvalue()
        digest.update(len(data).to_bytes(8, "big"))
        digest.update(data)
    return digest.hexdigest()


# key -> (what the build returned, moto's state right after it)
_KEPT: dict[Any, tuple[Any, Backends]] = {}


def kept(key: Any, build: Callable[[], T]) -> T:
    """What ``build()`` returns, building it once per process on an empty
    moto and putting a copy of the state it made back every later time (a
    world built per test through the API costs most of such a test).  For
    in-process moto (``mock_aws``) and for a moto server that is a thread of
    this process (:meth:`MotoServer.world <deployctl.testing.moto.MotoServer.world>`
    calls this).
    """
    made = _KEPT.get(key)
    if made is None:
        result = build()
        _KEPT[key] = (result, snapshot())
        return result
    restore(made[1])
    return cast(T, copy.deepcopy(made[0]))
