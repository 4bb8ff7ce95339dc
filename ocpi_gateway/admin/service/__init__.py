"""What the admin API and the CLI do, one module per resource. Each function takes the parts
it needs (the store, the catalog, the availability, the chargers' directory, ...), never the
aiohttp app, so that the CLI can run it against the store without a gateway; its answers are
the pydantic models the API serves and documents."""
