"""Partner Center: the client cspflow's activities use, and webhook verification."""

from shared.partner_center.client import PartnerCenterClient, get_client
from shared.partner_center.errors import (
    AuthError,
    BusinessError,
    DomainUnavailableError,
    ExportPendingError,
    NotFoundError,
    PartnerCenterError,
    RenewalProcessingError,
    RetryableError,
    ThrottledError,
)
from shared.partner_center.ids import request_id_for

__all__ = [
    "AuthError",
    "BusinessError",
    "DomainUnavailableError",
    "ExportPendingError",
    "NotFoundError",
    "PartnerCenterClient",
    "PartnerCenterError",
    "RenewalProcessingError",
    "RetryableError",
    "ThrottledError",
    "get_client",
    "request_id_for",
]
