"""Malformed on purpose: no function app at all."""

GREETING = "nothing to index here"
