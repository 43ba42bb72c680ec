"""``${ssm:/path}``: the SSM secret source on moto, and how the built-in
registry and the sandbox registry offer it to the executor."""

from __future__ import annotations

import pytest

from deployctl.actions.aws import Clients
from deployctl.actions.builtin import register_aws
from deployctl.actions.ssm_secrets import SecretUnavailable, SsmSecrets
from deployctl.core.ports import Registry
from deployctl.testing.aws import Calls

SECRET = 's3cr3t-"q\\uote-value'


def test_a_securestring_is_read_decrypted_in_the_region_asked(
    clients: Clients, calls: Calls
) -> None:
    clients.client("ssm", "eu-west-1").put_parameter(
        Name="/vault/api-token", Value=SECRET, Type="SecureString"
    )
    clients.client("ssm", "us-east-1").put_parameter(
        Name="/vault/api-token", Value="the us-east-1 one", Type="SecureString"
    )
    source = SsmSecrets(clients)
    assert source.read("/vault/api-token", "eu-west-1") == SECRET
    assert source.read("/vault/api-token", "us-east-1") == "the us-east-1 one"
    assert source.read("/vault/api-token", None) == "the us-east-1 one"  # the default region
    assert calls["GetParameter"] == 3


def test_a_version_selector_reads_that_version(clients: Clients) -> None:
    ssm = clients.client("ssm", "us-east-1")
    ssm.put_parameter(Name="/vault/db", Value="first", Type="SecureString")
    ssm.put_parameter(Name="/vault/db", Value="second", Type="SecureString", Overwrite=True)
    assert SsmSecrets(clients).read("/vault/db:1", "us-east-1") == "first"
    assert SsmSecrets(clients).read("/vault/db", "us-east-1") == "second"


def test_a_missing_parameter_names_itself_and_the_region(clients: Clients) -> None:
    with pytest.raises(SecretUnavailable) as caught:
        SsmSecrets(clients).read("/vault/nope", "eu-west-1")
    assert str(caught.value) == "SSM parameter /vault/nope does not exist in eu-west-1"


def test_the_built_in_registry_offers_ssm_references(clients: Clients) -> None:
    registry = Registry()
    register_aws(registry, clients)
    assert isinstance(registry.secret_source("ssm"), SsmSecrets)
    assert registry.secret_source("vault") is None
    with pytest.raises(ValueError, match="already registered"):
        registry.register_secrets("ssm", SsmSecrets(clients))
