"""devhost: the local Azure Functions + Durable Functions host (`python -m devhost`).

Azure Functions Core Tools cannot be installed where cspflow is built (its installer fetches
the host from a CDN), so this package runs the unmodified `function_app.py` the way the
Functions host and the Durable extension do. App code never imports it.
"""
