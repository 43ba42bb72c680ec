"""The test harness's kept worlds (MotoServer.world): a world put back from
its copy is the world a fresh build makes, and what a test does to it never
reaches the copy the next test gets."""

from __future__ import annotations

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
