"""One Settings class for the whole app, loaded lazily.

Secrets come only from the environment (Key Vault references resolve into app settings in
Azure; `local.settings.json` `Values` locally). They are `SecretStr`, so a repr or a log line
never shows them. Import-time failures in `function_app.py` would unregister every function,
so nothing here runs at import: call `get_settings()` where a value is needed.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AliasChoices,
    AnyHttpUrl,
    EmailStr,
    Field,
    NameEmail,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from shared.models.money import Money
from shared.models.party import TimeZoneName

Environment = Literal["local", "test", "azure"]

# What a deployment cannot run without. Locally they default to empty (the sandboxes' values
# arrive through the environment under `make run`); in Azure an empty one is a deployment
# mistake, refused at start rather than found by the first customer.
REQUIRED_IN_AZURE = (
    "partner_center_tenant_id",
    "partner_center_client_id",
    "partner_center_client_secret",
    "partner_center_refresh_token",
    "stripe_api_key",
    "stripe_webhook_secrets",
)
_LOOPBACK_HOSTS = ("127.0.0.1", "localhost", "::1", "")
# Nightly at 02:00 UTC. NCRONTAB: second minute hour day month weekday
# (https://learn.microsoft.com/en-us/azure/azure-functions/functions-bindings-timer#ncrontab-expressions).
BOOK_SYNC_SCHEDULE = "0 0 2 * * *"
_NCRONTAB_OR_OFF = r"^(off|\S+( \S+){5})$"
_LOCAL_STORAGE_MARKERS = (
    "usedevelopmentstorage=true",
    "devstoreaccount1",
    "127.0.0.1",
    "localhost",
)


class Settings(BaseSettings):
    """Every knob cspflow reads, with the environment variable it comes from."""

    model_config = SettingsConfigDict(
        env_prefix="CSPFLOW_",
        env_ignore_empty=True,
        extra="ignore",
        frozen=True,
    )

    def __hash__(self) -> int:
        # Per-settings caches (a client pool, a book) key on the settings; pydantic's own hash
        # of a frozen model hashes each field, and NameEmail is not hashable.
        return hash(self.model_dump_json())

    environment: Environment = "local"

    # Azure Storage: queues and tables. The Functions host's own setting name, unprefixed.
    storage_connection: SecretStr = Field(
        default=SecretStr("UseDevelopmentStorage=true"),
        validation_alias=AliasChoices("AzureWebJobsStorage", "CSPFLOW_STORAGE_CONNECTION"),
    )
    # Identity-based connection, as infra/bicep configures the host (no keys): when the
    # account name is set it wins over the connection string, with this managed identity.
    storage_account_name: str = Field(
        default="", validation_alias=AliasChoices("AzureWebJobsStorage__accountName")
    )
    storage_client_id: str = Field(
        default="", validation_alias=AliasChoices("AzureWebJobsStorage__clientId")
    )
    table_prefix: str = Field(default="cspflow", pattern=r"^[A-Za-z][A-Za-z0-9]{0,40}$")

    # Partner Center (client credentials through MSAL; the sandbox locally).
    partner_center_base_url: AnyHttpUrl = AnyHttpUrl("https://api.partnercenter.microsoft.com")
    partner_center_authority: AnyHttpUrl = AnyHttpUrl(
        "https://login.microsoftonline.com/organizations"
    )
    partner_center_tenant_id: str = ""
    partner_center_client_id: str = ""
    partner_center_client_secret: SecretStr = SecretStr("")
    partner_center_scope: str = "https://api.partnercenter.microsoft.com/.default"
    # A PEM bundle to trust (the sandbox's generated CA locally); None = system trust store.
    partner_center_ca_bundle: Path | None = None
    partner_center_timeout_s: float = Field(default=30.0, gt=0, le=300)
    # App+user calls (MCA attestation): the Secure Application Model refresh token.
    partner_center_refresh_token: SecretStr = SecretStr("")
    partner_center_user_scope: str = "https://api.partnercenter.microsoft.com/user_impersonation"
    # The license-based price sheet (Microsoft's cost) is on the Partner API host, app+user:
    # https://learn.microsoft.com/en-us/partner-center/developer/get-a-price-sheet. Locally
    # the Partner Center sandbox serves it too (devhost/sandbox_wiring.py).
    partner_center_pricing_base_url: AnyHttpUrl = AnyHttpUrl("https://api.partner.microsoft.com")
    partner_center_pricing_scope: str = "https://api.partner.microsoft.com/user_impersonation"
    # Billed/unbilled reconciliation v2 runs on Microsoft Graph with a Graph token.
    partner_center_graph_base_url: AnyHttpUrl = AnyHttpUrl("https://graph.microsoft.com")
    partner_center_graph_scope: str = "https://graph.microsoft.com/.default"
    # Webhook callbacks: where the signing certificate may be fetched from, and the roots
    # it must chain to (None = the Microsoft roots in certifi's bundle).
    partner_center_webhook_cert_url_prefixes: Annotated[tuple[str, ...], NoDecode] = (
        "https://3psostorageacct.blob.core.windows.net/cert/",
    )
    partner_center_webhook_trust_bundle: Path | None = None

    # Stripe (the official SDK; the sandbox locally).
    stripe_api_base: AnyHttpUrl = AnyHttpUrl("https://api.stripe.com")
    stripe_api_key: SecretStr = SecretStr("")
    # More than one secret during rotation: an event verifies if any of them signed it.
    stripe_webhook_secrets: Annotated[tuple[SecretStr, ...], NoDecode] = ()
    stripe_webhook_tolerance_s: int = Field(default=300, ge=1, le=3600)

    # Where "now" comes from when it is not the system clock: devhost's virtual clock in a
    # simulation (devhost sets DEVHOST_CLOCK_URL). Never in Azure.
    clock_url: AnyHttpUrl | None = Field(
        default=None, validation_alias=AliasChoices("CSPFLOW_CLOCK_URL", "DEVHOST_CLOCK_URL")
    )

    # The book sync (workflows/book_sync.py, docs/book.md "Sync"): when it runs nightly, as
    # an NCRONTAB schedule in UTC with seconds (the Functions timer's format), or "off"; and
    # the currency a customer adopted from Partner Center is billed in until set otherwise.
    book_sync_schedule: str = Field(default=BOOK_SYNC_SCHEDULE, pattern=_NCRONTAB_OR_OFF)
    partner_currency: str = Field(default="USD", pattern=r"^[A-Z]{3}$")

    # Dunning (workflows/dunning.py, docs/dunning.md): where Stripe's card-update page sends
    # the customer back to; at write-off, whether subscriptions still inside their
    # cancellation window are cancelled (else they are left to expire, auto-renew off); when
    # the card-expiry sweep runs (NCRONTAB in UTC with seconds: the 1st and the 22nd; or "off").
    dunning_card_update_return_url: AnyHttpUrl = AnyHttpUrl("https://cspflow.example/card-updated")
    dunning_write_off_cancel: bool = False
    dunning_card_expiry_schedule: str = Field(default="0 0 6 1,22 * *", pattern=_NCRONTAB_OR_OFF)
    # When the starts event intake kept for dunning before it was deployed are started
    # (NCRONTAB in UTC with seconds, daily; or "off").
    dunning_parked_starts_schedule: str = Field(default="0 15 6 * * *", pattern=_NCRONTAB_OR_OFF)
    # The billing run (workflows/billing_run.py, docs/billing.md): how often its timer looks
    # whether a billing day has begun in the partner's time zone (NCRONTAB in UTC, or "off");
    # the partner's country (EU reverse charge, docs/rules.md#reverse-charge) and time zone;
    # customers billed at once, and per page of the book.
    billing_schedule: str = Field(default="0 5 * * * *", pattern=_NCRONTAB_OR_OFF)
    partner_country: str = Field(default="US", pattern=r"^[A-Z]{2}$")
    partner_time_zone: TimeZoneName = "UTC"
    billing_in_flight: int = Field(default=10, ge=1, le=100)
    billing_page_size: int = Field(default=100, ge=1, le=1000)
    # Reconciliation (docs/rules.md#leakage-alert): the leakage per currency that raises an
    # ops alert, `EUR=50.00,USD=50.00` (a currency without one alerts on any leakage); and
    # the monthly timer that reconciles last month after Microsoft's invoice is out (the
    # 8th at the latest), as NCRONTAB in UTC, or "off".
    leakage_alert: str = Field(
        default="", pattern=r"^([A-Z]{3}=[0-9]+(\.[0-9]+)?(,[A-Z]{3}=[0-9]+(\.[0-9]+)?)*)?$"
    )
    reconciliation_schedule: str = Field(default="0 0 6 10 * *", pattern=_NCRONTAB_OR_OFF)

    # SLA clocks (docs/rules.md#sla-tier-targets, #sla-escalation): the partner's own tier
    # targets over cspflow's defaults, `kind.tier=N unit` entries separated by commas
    # (`onboarding.premium=2 business_hours`), and the escalation chain after a breach.
    sla_targets: Annotated[tuple[str, ...], NoDecode] = ()
    sla_escalation_chain: str = Field(
        default="owner:0,team_lead:30,manager:120",
        pattern=r"^\s*[a-z][a-z0-9_]{0,39}\s*:\s*\d{1,5}\s*(,\s*[a-z][a-z0-9_]{0,39}\s*:\s*\d{1,5}\s*)*$",
    )

    # Licence changes (docs/rules.md#change-approval): a change adding more seats, or
    # charging more (in minor units of the customer's currency), than these waits for the
    # partner's approval (0 = no threshold), and so does every cancellation when
    # `..._cancellation` is on; the approver is reminded after `..._reminder_hours` and the
    # change rejected after `..._timeout_hours` without a decision.
    licence_change_approval_seats: int = Field(default=50, ge=0)
    licence_change_approval_amount_minor: int = Field(default=500_000, ge=0)
    licence_change_approval_cancellation: bool = True
    licence_change_approval_reminder_hours: int = Field(default=24, ge=1, le=720)
    licence_change_approval_timeout_hours: int = Field(default=72, ge=1, le=2160)
    # Where the approver decides: the partner's portal page for one approval
    # (`<url>/<approval id>`), which posts to POST /api/approvals/{approval_id}.
    licence_change_approval_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:7071/approvals")

    # Notifications (shared/notifications/, docs/notifications.md). The transport: "smtp" to
    # any relay (the mail sandbox locally), or "acs" (Azure Communication Services Email with
    # the app's managed identity), which infra/bicep sets in Azure.
    mail_transport: Literal["smtp", "acs"] = "smtp"
    mail_from: EmailStr = "billing@cspflow.example"
    mail_from_name: str = Field(default="", max_length=200)  # empty: partner_name
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    # STARTTLS before anything else is said (refused if the server does not offer it).
    smtp_starttls: bool = False
    smtp_username: str = ""  # empty: no AUTH
    smtp_password: SecretStr = SecretStr("")
    # A PEM bundle to trust for STARTTLS (the mail sandbox's CA locally); None = system store.
    smtp_ca_bundle: Path | None = None
    # Per SMTP command; a send is a handful of commands (docs/notifications.md).
    smtp_timeout_s: float = Field(default=10.0, gt=0, le=120)
    # https://<resource>.communication.azure.com (the Communication Service's endpoint).
    acs_endpoint: AnyHttpUrl | None = None
    # How long one attempt may hold a notice before another attempt may take it over (a host
    # killed mid-send leaves its reservation behind). Longer than a send takes, shorter than
    # the "standard" retry policy's minute (docs/notifications.md, "Exactly once").
    notify_send_lease_s: float = Field(default=40.0, gt=0, le=3600)
    # Who the partner-side notices go to ("Name <address>" or an address, comma-separated),
    # in which locale and time zone.
    notify_ops_to: Annotated[tuple[NameEmail, ...], NoDecode] = ()
    notify_approvers_to: Annotated[tuple[NameEmail, ...], NoDecode] = ()
    notify_partner_locale: str = "en"
    notify_partner_time_zone: TimeZoneName = "UTC"
    # The partner's brand, on every notice.
    partner_name: str = Field(default="Your Microsoft partner", min_length=1, max_length=200)
    partner_logo_url: AnyHttpUrl | None = None
    partner_support_email: EmailStr = "support@cspflow.example"
    partner_support_phone: str = Field(default="", max_length=40)
    partner_support_url: AnyHttpUrl | None = None

    # Renewals (workflows/renewals.py, docs/renewals.md): reminder offsets in days before the
    # decision deadline for annual and triennial terms, and for a monthly term with something
    # to decide (docs/rules.md#reminder-cadence); the key that signs decision links (HS256;
    # empty locally: one derived from the storage connection, refused in Azure); and the
    # public address those links point to (the Function app's, without /api).
    renewal_reminder_days: Annotated[tuple[int, ...], NoDecode] = (60, 30, 7)
    renewal_monthly_reminder_days: Annotated[tuple[int, ...], NoDecode] = (7,)
    link_signing_key: SecretStr = SecretStr("")
    public_base_url: AnyHttpUrl = AnyHttpUrl("http://127.0.0.1:7071")
    # Onboarding (docs/onboarding.md): where a customer lands after saving a card through an
    # order's card-setup link: the partner's storefront page when set, else cspflow's own
    # `<public_base_url>/api/orders/<order id>/card-setup/done`.
    onboarding_card_setup_return_url: AnyHttpUrl | None = None

    @model_validator(mode="after")
    def _complete_in_azure(self) -> Settings:
        """In Azure (`CSPFLOW_ENVIRONMENT=azure`) every secret is set and storage is not the
        local emulator; each missing one is named (GET /api/health lists them)."""
        if self.environment != "azure":
            return self
        missing = [name for name in REQUIRED_IN_AZURE if _is_empty(getattr(self, name))]
        errors = [
            InitErrorDetails(
                type=PydanticCustomError(
                    "required_in_azure", "must be set when CSPFLOW_ENVIRONMENT=azure"
                ),
                loc=(name,),
                input="",
            )
            for name in missing
        ]
        if self.clock_url is not None:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "simulated_clock_in_azure", "is a simulation's clock; unset it in Azure"
                    ),
                    loc=("clock_url",),
                    input="",
                )
            )
        connection = self.storage_connection.get_secret_value().lower()
        if not self.storage_account_name and any(m in connection for m in _LOCAL_STORAGE_MARKERS):
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "local_storage_in_azure",
                        "is the local storage emulator; in Azure set AzureWebJobsStorage__"
                        "accountName (managed identity) or a real connection string",
                    ),
                    loc=("storage_connection",),
                    input="",
                )
            )
        if self.mail_transport == "smtp" and self.smtp_host.strip().lower() in _LOOPBACK_HOSTS:
            errors.append(
                InitErrorDetails(
                    type=PydanticCustomError(
                        "local_mail_in_azure",
                        "is the local mail sandbox; in Azure set CSPFLOW_MAIL_TRANSPORT=acs "
                        "(infra/bicep does) or a real SMTP relay",
                    ),
                    loc=("smtp_host",),
                    input="",
                )
            )
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

    @model_validator(mode="after")
    def _transport_complete(self) -> Settings:
        """ACS needs its endpoint, SMTP AUTH its password: refused wherever they run."""
        if self.mail_transport == "acs" and self.acs_endpoint is None:
            raise ValueError("acs_endpoint must be set when mail_transport is 'acs'")
        if self.smtp_username and not self.smtp_password.get_secret_value():
            raise ValueError("smtp_password must be set when smtp_username is")
        return self

    def leakage_thresholds(self) -> dict[str, Money]:
        """`leakage_alert` as Money per currency (docs/rules.md#leakage-alert)."""
        found: dict[str, Money] = {}
        for part in filter(None, self.leakage_alert.split(",")):
            currency, amount = part.split("=")
            found[currency] = Money.from_decimal(amount, currency)
        return found

    def redact(self, text: str) -> str:
        """`text` with every configured secret replaced by `***`: each secret setting, and
        each part of the storage connection string that holds a key or token. Every message
        that leaves an activity or reaches a log goes through this first."""
        connection = self.storage_connection.get_secret_value()
        secrets = [
            self.partner_center_client_secret.get_secret_value(),
            self.partner_center_refresh_token.get_secret_value(),
            self.stripe_api_key.get_secret_value(),
            *(s.get_secret_value() for s in self.stripe_webhook_secrets),
            self.smtp_password.get_secret_value(),
            self.link_signing_key.get_secret_value(),
            connection,
            *(
                part.split("=", 1)[1]
                for part in connection.split(";")
                if part.lower().startswith(("accountkey=", "sharedaccesssignature="))
            ),
        ]
        for secret in sorted(filter(None, secrets), key=len, reverse=True):
            text = text.replace(secret, "***")
        return text

    @field_validator("sla_targets", mode="before")
    @classmethod
    def _split_targets(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(t.strip() for t in value.split(",") if t.strip())
        return value

    @field_validator("sla_targets")
    @classmethod
    def _targets_read(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        from shared.policy.sla import parse_targets  # policy is pure; this only checks

        parse_targets(value)
        return value

    @field_validator("partner_center_webhook_cert_url_prefixes", mode="before")
    @classmethod
    def _split_prefixes(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(p.strip() for p in value.split(",") if p.strip())
        return value

    @field_validator("partner_center_webhook_cert_url_prefixes")
    @classmethod
    def _prefixes_are_https(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for prefix in value:
            if not prefix.startswith("https://") or not prefix.endswith("/"):
                raise ValueError("each certificate URL prefix is https://host/path/")
        return value

    @field_validator("notify_ops_to", "notify_approvers_to", mode="before")
    @classmethod
    def _split_addresses(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(a.strip() for a in value.split(",") if a.strip())
        return value

    @field_validator("notify_partner_locale")
    @classmethod
    def _supported_locale(cls, value: str) -> str:
        from shared.notifications.locales import supported_locale

        return supported_locale(value)

    @field_validator("renewal_reminder_days", "renewal_monthly_reminder_days", mode="before")
    @classmethod
    def _split_days(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(int(d) for d in value.replace(" ", "").split(",") if d)
        return value

    @field_validator("renewal_reminder_days", "renewal_monthly_reminder_days")
    @classmethod
    def _days_in_range(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if any(not 0 <= d <= 365 for d in value):
            raise ValueError("each reminder offset is 0 to 365 days")
        return tuple(sorted(set(value), reverse=True))

    @field_validator("stripe_webhook_secrets", mode="before")
    @classmethod
    def _split_secrets(cls, value: object) -> object:
        if isinstance(value, str):
            return tuple(SecretStr(s.strip()) for s in value.split(",") if s.strip())
        return value

    @field_validator("stripe_webhook_secrets")
    @classmethod
    def _secrets_look_like_stripe(cls, value: tuple[SecretStr, ...]) -> tuple[SecretStr, ...]:
        for secret in value:
            if not secret.get_secret_value().startswith("whsec_"):
                raise ValueError("each Stripe webhook secret starts with 'whsec_'")
        return value


def _is_empty(value: object) -> bool:
    if isinstance(value, SecretStr):
        return not value.get_secret_value().strip()
    if isinstance(value, str):
        return not value.strip()
    return not value


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide Settings, read from the environment on first use."""
    return Settings()


def reset_settings() -> None:
    """Forget the cached Settings (tests that change the environment call this)."""
    get_settings.cache_clear()
