"""A test app under `python -m devhost start` (not cspflow's): a sync HTTP function that
does not return before the host is stopped."""

import time

import azure.functions as func

app = func.FunctionApp()


@app.route(route="stuck", auth_level=func.AuthLevel.ANONYMOUS)
def stuck(req: func.HttpRequest) -> str:
    time.sleep(600)  # a call that hangs (say on a dead socket): only a stop ends it
    return "too late"
