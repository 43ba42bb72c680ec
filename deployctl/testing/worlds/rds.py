"""The database plans/people-cards.yaml snapshots before its migration."""

from __future__ import annotations

from deployctl.testing.aws import REGION, ClientSource

INSTANCE = "people-cards-prod"
CLUSTER = "people-cards-aurora"
PASSWORD = "not-a-real-one-1"  # moto's, for a database that does not exist


def build(aws: ClientSource, region: str = REGION, *, aurora: bool = False) -> None:
    """The Postgres instance people-cards-prod; with ``aurora``, also the
    Aurora cluster people-cards-aurora."""
    rds = aws.client("rds", region)
    rds.create_db_instance(
        DBInstanceIdentifier=INSTANCE,
        DBInstanceClass="db.t3.micro",
        Engine="postgres",
        MasterUsername="admin",
        MasterUserPassword=PASSWORD,
        AllocatedStorage=20,
    )
    if aurora:
        rds.create_db_cluster(
            DBClusterIdentifier=CLUSTER,
            Engine="aurora-postgresql",
            MasterUsername="admin",
            MasterUserPassword=PASSWORD,
        )


def snapshots(aws: ClientSource, region: str = REGION) -> list[str]:
    """The instance's snapshot identifiers, sorted."""
    got = aws.client("rds", region).describe_db_snapshots(DBInstanceIdentifier=INSTANCE)
    return sorted(s["DBSnapshotIdentifier"] for s in got["DBSnapshots"])
