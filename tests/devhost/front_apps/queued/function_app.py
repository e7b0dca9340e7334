"""A test app for queue triggers under `python -m devhost start` (not cspflow's).

The function appends a line to the file named by the RECORD setting, so a test can see what
ran even across host kills and restarts.
"""

import json
import os
import time

import azure.functions as func

app = func.FunctionApp()


def record(**fields: object) -> None:
    with open(os.environ["RECORD"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(fields) + "\n")


@app.queue_trigger(arg_name="msg", queue_name="%ORDERS_QUEUE%", connection="AzureWebJobsStorage")
@app.queue_output(
    arg_name="$return", queue_name="%ORDERS_QUEUE%-done", connection="AzureWebJobsStorage"
)
def process_order(msg: func.QueueMessage) -> str:
    body = msg.get_body().decode()
    record(kind="start", body=body, dequeue_count=msg.dequeue_count)
    if os.environ.get("HANG_FIRST_TRY") == "1" and msg.dequeue_count == 1:
        time.sleep(120)  # the test kills the host meanwhile
    record(kind="done", body=body, dequeue_count=msg.dequeue_count)
    return f"processed {body}"
