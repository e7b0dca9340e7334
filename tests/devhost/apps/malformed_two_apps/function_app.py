"""Malformed on purpose: two function apps in one script."""

import azure.durable_functions as df
import azure.functions as func

app = df.DFApp()
other = func.FunctionApp()
