"""Local simulators of the outside world: Partner Center, Stripe, mail.

Run one with `python -m sandbox NAME [options]`. App code never imports this package.
"""
