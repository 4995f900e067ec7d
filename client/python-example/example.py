"""A short tour of the pgAnalytics API through the generated Python client.

Signs in, registers a PostgreSQL instance, waits for its first collection and reads the newest
`database` rows, then finds the instance's audit event and verifies the audit trail. Prints one
JSON line with what it saw. Generate the client first (docs/SDK_CLIENTS.md), then:

    PYTHONPATH=<dir holding pganalytics_client> python example.py

Settings come from the environment: PGA_URL, PGA_EMAIL, PGA_PASSWORD, and the instance to
register: PG_HOST, PG_PORT, PG_USER, PG_PASSWORD, PG_DATABASE.
"""

import json
import os
import sys
import time

from pganalytics_client import AuthenticatedClient, Client
from pganalytics_client.api.audit import search_audit_logs, verify_audit_trail
from pganalytics_client.api.authentication import login
from pganalytics_client.api.instances import create_instance, get_instance
from pganalytics_client.api.metrics import get_latest_metrics
from pganalytics_client.models import (
    AuditPage,
    AuditVerifyInput,
    AuditVerifyResult,
    Instance,
    InstanceInput,
    InstanceInputIntervals,
    InstanceInputSslmode,
    InstanceInputTags,
    LatestMetrics,
    LoginInput,
    LoginInputSession,
    Problem,
    TokenSession,
)

DEADLINE_SECONDS = 120


def expect(value, kind, what):
    """The parsed body, or exit naming the call and the problem the API returned."""
    if isinstance(value, kind):
        return value
    detail = value.to_dict() if isinstance(value, Problem) else value
    sys.exit(f"{what}: expected {kind.__name__}, got {detail!r}")


def poll(what, attempt):
    """attempt() until it returns something truthy, for up to DEADLINE_SECONDS."""
    deadline = time.monotonic() + DEADLINE_SECONDS
    while time.monotonic() < deadline:
        found = attempt()
        if found:
            return found
        time.sleep(0.5)
    sys.exit(f"{what}: nothing within {DEADLINE_SECONDS} s")


def main():
    env = os.environ
    url = env["PGA_URL"]
    signed_in = expect(
        login.sync(client=Client(base_url=url), body=LoginInput(email=env["PGA_EMAIL"], password=env["PGA_PASSWORD"])),
        TokenSession,
        "sign in",
    )
    api = AuthenticatedClient(base_url=url, token=signed_in.access_token, timeout=30.0)
    # A browser-style sign-in answers with the other member of the same union.
    cookie_session = login.sync(
        client=Client(base_url=url),
        body=LoginInput(email=env["PGA_EMAIL"], password=env["PGA_PASSWORD"], session=LoginInputSession.COOKIE),
    )

    intervals = InstanceInputIntervals(database=5)
    tags = InstanceInputTags()
    tags["sdk"] = "python"
    created = create_instance.sync(
        client=api,
        body=InstanceInput(
            name=f"python-sdk-{int(time.time())}",
            host=env["PG_HOST"],
            port=int(env["PG_PORT"]),
            username=env["PG_USER"],
            password=env["PG_PASSWORD"],
            database=env["PG_DATABASE"],
            sslmode=InstanceInputSslmode.PREFER,
            tags=tags,
            intervals=intervals,
        ),
    )
    instance = expect(created, Instance, "create instance")
    read_back = expect(get_instance.sync(instance.id, client=api), Instance, "read instance")

    def latest_rows():
        latest = get_latest_metrics.sync(instance.id, "database", client=api)
        return expect(latest, LatestMetrics, "latest metrics").rows

    rows = poll("latest database metrics", latest_rows)
    databases = {row["datname"]: row.additional_properties for row in rows if row["datname"]}

    def created_event():
        page = search_audit_logs.sync(
            client=api, event_type="instance.created", resource_id=str(instance.id), limit=10
        )
        return expect(page, AuditPage, "audit search").items

    event = poll("audit event instance.created", created_event)[0]
    verified = expect(
        verify_audit_trail.sync(client=api, body=AuditVerifyInput()),
        AuditVerifyResult,
        "verify audit trail",
    )

    print(
        json.dumps(
            {
                "client": "python",
                "signedInAs": signed_in.user.email,
                "role": signed_in.user.role.value,
                "cookieSignIn": type(cookie_session).__name__,
                "instanceId": str(instance.id),
                "readBackId": str(read_back.id),
                "tags": read_back.tags.to_dict(),
                "intervalDatabase": read_back.intervals["database"],
                "latest": {
                    "group": "database",
                    "databases": sorted(databases),
                    "xactCommit": {name: int(values["xact_commit"]) for name, values in databases.items()},
                },
                "audit": {
                    "eventId": event.event_id,
                    "eventType": event.event_type,
                    "resourceId": event.resource_id,
                    "actorId": event.actor_id,
                    "valid": verified.valid,
                    "checkedEntries": verified.checked_entries,
                    "problem": None if verified.problem is None else verified.problem.to_dict(),
                },
            }
        )
    )


if __name__ == "__main__":
    main()
