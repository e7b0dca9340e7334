"""The mail sandbox: a local SMTP server that keeps every message, with an inbox API.

`python -m sandbox mail` (cli.py). App code never imports this package; it reaches it over
SMTP like any relay. See docs/notifications.md, "The mail sandbox".
"""
