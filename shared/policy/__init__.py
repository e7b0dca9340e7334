"""Pure rules: functions of (state, now) -> decision. No I/O, no clock reads, no logging.

Orchestrators call these with `context.current_utc_datetime`; tests call them with fixed
instants. Every parameter a partner may want to tune lives in a small frozen dataclass with
defaults (`NceRules`, `RenewalRules`, `DunningRules`, `SlaRules`).
"""
