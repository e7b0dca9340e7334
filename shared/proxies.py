"""Proxy settings from the environment, read once per process.

A requests session that trusts the environment (requests' default, and the Azure SDK's)
scans every environment variable for proxy settings, and the user's netrc, on every request:
with the hundred or so variables a Functions worker has, a few percent of an activity's CPU
(measured with py-spy on devhost: `getproxies_environment` and `os.environ` iteration under
every book, Partner Center and Stripe call). cspflow's HTTP clients decide once instead: a
process started with no proxy configured (no `HTTP_PROXY`, `HTTPS_PROXY`, `ALL_PROXY` or
`NO_PROXY`, the usual case on Azure Functions) never looks again; one started with a proxy
keeps requests' own per-request handling, `NO_PROXY` included.
"""

from __future__ import annotations

from urllib.request import getproxies

# Whether HTTP sessions should keep reading the environment on every request.
TRUST_ENVIRONMENT: bool = bool(getproxies())
