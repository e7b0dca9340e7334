"""How the local host delivers non-durable triggers: timers, Storage queues, and the binding
plumbing (durable client, queue outputs) they share with HTTP functions."""
