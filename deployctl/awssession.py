"""The one way deployctl opens a boto3 session, for the actions and for the
DynamoDB state store alike: an unknown profile is a user's mistake, one line."""

from __future__ import annotations

from typing import Any

import boto3
from botocore.exceptions import ProfileNotFound

from deployctl.errors import UserError


def session(profile: str | None, region: str | None) -> Any:
    try:
        return boto3.Session(profile_name=profile, region_name=region)
    except ProfileNotFound as exc:
        given = f"--profile {profile}" if profile else f"AWS_PROFILE={exc.kwargs.get('profile')}"
        raise UserError(
            f"{given}: no such profile in the AWS config or credentials file "
            "(see: aws configure list-profiles)"
        ) from None
