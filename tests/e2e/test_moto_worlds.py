"""The test harness's moto server handle: its kept worlds (MotoServer.world)
come back as a fresh build makes them, whatever a test did to them, and the
test's own calls (MotoServer.client) reach the server's backends in process."""

from __future__ import annotations

from typing import Any

from deployctl.testing import moto
from deployctl.testing.aws import code_zip
from deployctl.testing.moto import MotoServer
from deployctl.testing.worlds import fraud

FN = fraud.FN


def aliases(server: MotoServer) -> dict[str, str]:
    found = server.client("lambda").list_aliases(FunctionName=FN)["Aliases"]
    return {alias["Name"]: alias["FunctionVersion"] for alias in found}


def versions(server: MotoServer) -> list[str]:
    found = server.client("lambda").list_versions_by_function(FunctionName=FN)["Versions"]
    return [v["Version"] for v in found]


def test_a_kept_world_comes_back_as_built_whatever_the_last_test_did(
    moto_server: MotoServer,
) -> None:
    moto_server.world("kept-fraud", fraud.build)
    built = (aliases(moto_server), versions(moto_server))
    lam = moto_server.client("lambda")
    # What a test might do: publish, move the alias, add things elsewhere.
    lam.update_function_code(FunctionName=FN, ZipFile=code_zip("v3"))
    published = lam.publish_version(FunctionName=FN)["Version"]
    lam.update_alias(FunctionName=FN, Name="live", FunctionVersion=published)
    moto_server.client("ssm").put_parameter(Name="/left/over", Value="x", Type="String")
    assert (aliases(moto_server), versions(moto_server)) != built

    moto_server.world("kept-fraud", fraud.build)
    assert (aliases(moto_server), versions(moto_server)) == built
    assert moto_server.client("ssm").describe_parameters()["Parameters"] == []
    # ... and again: the copy was not consumed by the first restore.
    lam.update_function_code(FunctionName=FN, ZipFile=code_zip("v4"))
    again = lam.publish_version(FunctionName=FN)["Version"]
    lam.update_alias(FunctionName=FN, Name="live", FunctionVersion=again)
    assert aliases(moto_server) != built[0]
    moto_server.world("kept-fraud", fraud.build)
    assert (aliases(moto_server), versions(moto_server)) == built


def test_the_tests_own_calls_reach_the_servers_backends_without_http(
    moto_server: MotoServer,
) -> None:
    """MotoServer.client answers in process (no request crosses the server's
    door), from the same backends the server serves the runs under test."""
    served: list[str] = []
    door = moto._DOORS[moto_server.url]
    real = door.app

    def counting(environ: Any, start_response: Any) -> Any:
        served.append(environ["PATH_INFO"])
        return real(environ, start_response)

    door.app = counting
    try:
        ours = moto_server.client("ssm")
        ours.put_parameter(Name="/where", Value="in-process", Type="String")
        assert served == []
        over_http = moto_server.session.client(
            "ssm", region_name=moto.REGION, endpoint_url=moto_server.url
        )
        assert over_http.get_parameter(Name="/where")["Parameter"]["Value"] == "in-process"
        assert served == ["/"]
        over_http.put_parameter(Name="/where", Value="over HTTP", Type="String", Overwrite=True)
        assert ours.get_parameter(Name="/where")["Parameter"]["Value"] == "over HTTP"
    finally:
        door.app = real
