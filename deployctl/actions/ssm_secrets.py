"""``${ssm:/path}``: SSM parameters (normally SecureStrings) read at run time.

One ``GetParameter`` with ``WithDecryption=True`` in the step's region, right
before the action that needs the value; the executor reads each parameter
once per run.  Errors name the parameter and the region, never a value.
"""

from __future__ import annotations

from botocore.exceptions import BotoCoreError, ClientError

from deployctl.actions.aws import Clients
from deployctl.core.ports import Registry, SecretSource
from deployctl.errors import DeployctlError
from deployctl.manifest.secrets import SSM_SCHEME


class SecretUnavailable(DeployctlError):
    """A secret reference could not be read."""


class SsmSecrets(SecretSource):
    def __init__(self, clients: Clients) -> None:
        self.clients = clients

    def read(self, name: str, region: str | None) -> str:
        where = region or self.clients.region or "the default region"
        try:
            answer = self.clients.client("ssm", region).get_parameter(
                Name=name, WithDecryption=True
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code = error.get("Code", "error")
            if code == "ParameterNotFound":
                raise SecretUnavailable(f"SSM parameter {name} does not exist in {where}") from None
            raise SecretUnavailable(
                f"SSM parameter {name} in {where}: {code}: {error.get('Message', '')}".rstrip(": ")
            ) from None
        except BotoCoreError as exc:
            raise SecretUnavailable(f"SSM parameter {name} in {where}: {exc}") from None
        return str(answer["Parameter"]["Value"])


def register(registry: Registry, clients: Clients) -> None:
    registry.register_secrets(SSM_SCHEME, SsmSecrets(clients))
