"""The app's own helpers, in a top-level package named like cspflow's (not cspflow's)."""
