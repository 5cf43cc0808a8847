"""Runs scim2-tester (python-scim's RFC 7643/7644 conformance checks) against a Portal server.

Usage: conformance.py <base URL of /scim/v2> <API key>. Prints one JSON line: how many checks
passed, and each one that did not, with its reason.
"""

import json
import sys

import httpx2 as httpx
from scim2_client.engines.httpx2 import SyncSCIMClient
from scim2_tester import Status, check_server


def main() -> None:
    base_url, key = sys.argv[1], sys.argv[2]
    http = httpx.Client(base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=30)
    client = SyncSCIMClient(http)
    client.discover()
    results = check_server(client, raise_exceptions=False)
    by_status: dict[str, int] = {}
    problems = []
    for result in results:
        by_status[result.status.name] = by_status.get(result.status.name, 0) + 1
        if result.status not in (Status.SUCCESS, Status.SKIPPED):
            problems.append(
                {"status": result.status.name, "title": result.title, "resource": result.resource_type, "reason": result.reason}
            )
    print(json.dumps({"counts": by_status, "problems": problems}))


if __name__ == "__main__":
    main()
