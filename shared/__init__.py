"""Domain and adapters shared by triggers, workflows and activities.

Nothing here imports from triggers/, workflows/ or activities/ (data flows one way).
"""
