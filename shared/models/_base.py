"""Building blocks every model shares: the base classes, UTC times and Decimal rates.

Two base classes, because two kinds of data cross our boundaries:

* `DomainModel`: cspflow's own records. Unknown fields are an error (a typo in a workflow
  input must fail loudly, naming the field), and instances are immutable.
* `PartnerCenterModel`: mirrors of Partner Center resources. They validate Partner Center's
  camelCase JSON as it comes (aliases) and our snake_case names alike (populate_by_name), and
  ignore fields we do not model, so a new field on Microsoft's side never breaks intake.

Both dump with `model_dump(mode="json")` and validate that dump back unchanged, which is how
they cross Durable Functions boundaries.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict
from pydantic.alias_generators import to_camel


def _as_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+01:00 is before year 1 in UTC
        raise ValueError("the instant is out of range once in UTC") from None


UtcDateTime = Annotated[AwareDatetime, AfterValidator(_as_utc)]
"""A timezone-aware instant, normalised to UTC. Naive datetimes are rejected, not guessed."""


def _reject_inexact(value: Any) -> Any:
    # A float or a bool is never an exact rate: 0.1 is 0.1000000000000000055..., True is 1.
    # Strings, ints and Decimals are exact and are what JSON dumps of Decimal contain.
    if isinstance(value, bool | float):
        raise ValueError("must be a Decimal, an int or a decimal string, never a float or a bool")
    return value


Rate = Annotated[Decimal, BeforeValidator(_reject_inexact)]
"""An exact ratio (markup, fraction, percentage as a fraction). Never a float."""


class DomainModel(BaseModel):
    """cspflow's own records: immutable, unknown fields rejected."""

    model_config = ConfigDict(frozen=True, extra="forbid", validate_default=True)


class PartnerCenterModel(BaseModel):
    """A mirror of a Partner Center resource: camelCase aliases, unknown fields ignored."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        alias_generator=to_camel,
        populate_by_name=True,
        serialize_by_alias=True,
    )
