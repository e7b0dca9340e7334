"""A local Partner Center: HTTPS, an Entra-like token endpoint, the REST API, NCE rules,
signed webhooks and faults on demand. `python -m sandbox partner-center`."""
