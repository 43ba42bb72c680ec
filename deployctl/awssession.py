"""The one way deployctl opens a boto3 session, for the actions and for the
DynamoDB state store alike: an unknown profile is a user's mistake, one line."""

from __future__ import annotations

from typing import Any

import boto3
import botocore.session
from botocore.exceptions import ProfileNotFound

from deployctl.errors import UserError


def session(profile: str | None, region: str | None) -> Any:
    core = botocore.session.get_session()
    if profile is not None:
        core.set_config_variable("profile", profile)
    try:
        # Read the profile now (given, or AWS_PROFILE's): left to botocore, an
        # unknown one is found wherever the config is first read, which
        # depends on what is already cached, and is then an internal error.
        core.get_scoped_config()
    except ProfileNotFound as exc:
        given = f"--profile {profile}" if profile else f"AWS_PROFILE={exc.kwargs.get('profile')}"
        raise UserError(
            f"{given}: no such profile in the AWS config or credentials file "
            "(see: aws configure list-profiles)"
        ) from None
    return boto3.Session(botocore_session=core, region_name=region)
