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
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

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

    # Notifications.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=2525, ge=1, le=65535)
    mail_from: str = "billing@cspflow.local"

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
        if errors:
            raise ValidationError.from_exception_data(type(self).__name__, errors)
        return self

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
