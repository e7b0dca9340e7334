"""Blueprints registered into a plain FunctionApp, names overridden on the triggers, plus
the HTTP, timer and queue functions the front serves."""

import azure.functions as func
from durable_blueprint import bp  # type: ignore[import-not-found]  # the app dir is on sys.path

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)
app.register_functions(bp)


@app.route(route="ping")
def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")


@app.timer_trigger(schedule="0 */5 * * * *", arg_name="timer", run_on_startup=False)
def sweep(timer: func.TimerRequest) -> None:
    return None


@app.queue_trigger(arg_name="msg", queue_name="intake", connection="AzureWebJobsStorage")
def intake(msg: func.QueueMessage) -> None:
    return None
