"""Who gets a notice: the addressees, the customer's preferences, and the rule that joins them.

A customer notice goes to the customer's contacts in the roles its kind names (`KINDS`), or
in the roles the customer's `NoticePreferences` route that kind to. A contact role nobody
holds falls back to the primary contact (a customer without a billing contact still hears
about a failed payment). A non-essential kind the customer muted goes to nobody; an essential
one cannot be muted. Partner-side notices (approval requests, SLA, ops alerts) go to the
partner's approvers and ops addresses from the settings.

`resolve()` is pure: what the activity hands it is everything it decides on.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import EmailStr, Field, field_validator, model_validator

from shared.models._base import DomainModel
from shared.models.party import TimeZoneName
from shared.notifications.kinds import (
    CONTACT_ROLES,
    KINDS,
    ContactRole,
    Identifier,
    NoticeKind,
    RecipientRole,
    ShortText,
)
from shared.notifications.locales import NoticeLocale


class Addressee(DomainModel):
    """A person a notice can go to, and how they read: language and time zone."""

    name: ShortText
    email: EmailStr
    role: RecipientRole
    locale: NoticeLocale = "en"
    time_zone: TimeZoneName = "UTC"

    @property
    def address(self) -> str:
        """The address as a key: case-folded (the domain is case-insensitive, and no
        relay we send through treats local parts by case)."""
        return self.email.strip().lower()


class NoticePreferences(DomainModel):
    """One customer's choices: which contact roles get which kind, and which non-essential
    kinds they do not want at all."""

    customer_id: Identifier
    routes: dict[NoticeKind, tuple[ContactRole, ...]] = Field(default_factory=dict)
    muted: frozenset[NoticeKind] = frozenset()

    @field_validator("routes")
    @classmethod
    def _routes_to_contacts(
        cls, routes: dict[NoticeKind, tuple[ContactRole, ...]]
    ) -> dict[NoticeKind, tuple[ContactRole, ...]]:
        for kind, roles in routes.items():
            if KINDS[kind].partner_side:
                raise ValueError(f"{kind} goes to the partner; a customer cannot route it")
            if not roles:
                raise ValueError(f"{kind}: route it to at least one contact role (or mute it)")
        return routes

    @model_validator(mode="after")
    def _only_non_essential_muted(self) -> NoticePreferences:
        essential = sorted(k for k in self.muted if KINDS[k].essential)
        if essential:
            raise ValueError(f"essential notices cannot be turned off: {', '.join(essential)}")
        return self


@dataclass(frozen=True)
class PartnerAudience:
    """The partner's own readers, from the settings."""

    approvers: tuple[Addressee, ...] = ()
    ops: tuple[Addressee, ...] = ()


@dataclass(frozen=True)
class Resolution:
    addressees: tuple[Addressee, ...]
    muted: bool = False


def resolve(
    kind: NoticeKind,
    contacts: tuple[Addressee, ...],
    preferences: NoticePreferences | None,
    partner: PartnerAudience,
) -> Resolution:
    """The addressees of one notice, each once (by address), in role order."""
    info = KINDS[kind]
    if preferences is not None and kind in preferences.muted:
        return Resolution((), muted=True)
    roles: tuple[RecipientRole, ...] = info.roles
    if preferences is not None and kind in preferences.routes:
        roles = preferences.routes[kind]
    chosen: list[Addressee] = []
    for role in roles:
        if role == "approver":
            chosen += [a for a in contacts if a.role == "approver"] or partner.approvers
        elif role == "ops":
            chosen += [a for a in contacts if a.role == "ops"] or partner.ops
        else:
            chosen += _contacts_in(role, contacts)
    seen: set[str] = set()
    unique = []
    for addressee in chosen:
        if addressee.address not in seen:
            seen.add(addressee.address)
            unique.append(addressee)
    return Resolution(tuple(unique))


def _contacts_in(role: ContactRole, contacts: tuple[Addressee, ...]) -> list[Addressee]:
    customer = [a for a in contacts if a.role in CONTACT_ROLES]
    holders = [a for a in customer if a.role == role]
    if holders:
        return holders
    primary = [a for a in customer if a.role == "primary"]
    return primary or customer[:1]
