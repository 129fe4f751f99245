"""A Python client of a running Intelli Assets deployment, over the Dagster webserver's GraphQL
API only (no Dagster internals): what other programs (a web front end, notebooks, schedulers)
use to launch chart jobs, follow them live and read their results.

    from intelli_assets.client import IntelliClient
    with IntelliClient("http://127.0.0.1:3000", requested_by="notebook") as client:
        partition, path = client.register_dataset("/data/Filters_20250331_1141.xlsx")
        launched = client.launch(partition, ["top_patent_countries"], {"top_n": 10}, idempotency_key="req-42")
        for event in client.events(launched.job):
            print(event.line())
        print(client.job(launched.job).to_dict())
"""

from intelli_assets.client.client import DEFAULT_URL, ClientError, IntelliClient, Launched

__all__ = ["DEFAULT_URL", "ClientError", "IntelliClient", "Launched"]
