"""A test app for timer triggers under `python -m devhost start` (not cspflow's).

Each run appends a line to the file named by the RECORD setting.
"""

import json
import os

import azure.functions as func

app = func.FunctionApp()


@app.timer_trigger(schedule="%SWEEP_SCHEDULE%", arg_name="timer", use_monitor=True)
def sweep(timer: func.TimerRequest) -> None:
    line = {"past_due": timer.past_due, "status": getattr(timer, "schedule_status", None)}
    with open(os.environ["RECORD"], "a", encoding="utf-8") as fh:
        fh.write(json.dumps(line) + "\n")
