"""A local Partner Center: HTTPS, an Entra-like token endpoint, the REST API, NCE rules,
billing and reconciliation, signed webhooks and faults on demand.
`python -m sandbox partner-center`; what it simulates, with the Microsoft Learn page of each
behaviour, is in docs/sandbox-partner-center.md. It imports nothing from the app."""
