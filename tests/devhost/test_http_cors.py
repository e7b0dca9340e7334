"""CORS rules of `func start --cors`: Core Tools' policy (Actions/HostActions/Startup.cs:
`WithOrigins(origins).AllowAnyHeader().AllowAnyMethod()`, `AllowCredentials()` with
--cors-credentials) evaluated as ASP.NET Core's CorsService does (EvaluatePolicy,
PopulateResult, ApplyResult)."""

import pytest

from devhost.http_cors import CorsConfigError, CorsPolicy

SHOP = "http://shop.test"
ADMIN = "https://admin.test:8443"


@pytest.mark.parametrize(
    ("setting", "origins"),
    [
        (None, None),  # no --cors: no CORS middleware at all
        ("", None),
        (",,", None),  # StringSplitOptions.RemoveEmptyEntries
        ("http://Shop.TEST", ("http://shop.test",)),  # WithOrigins lower-cases
        (f"{SHOP},{ADMIN}", (SHOP, ADMIN)),
        ("*", ("*",)),
    ],
)
def test_the_cors_setting_is_split_and_normalised_like_with_origins(setting, origins):
    policy = CorsPolicy.parse(setting)
    assert (policy.origins if policy else None) == origins


def test_any_origin_with_credentials_is_refused_as_asp_net_core_refuses_it():
    # CorsService.EvaluatePolicy throws InsecureConfiguration for this policy.
    with pytest.raises(CorsConfigError, match="cannot be combined with --cors-credentials"):
        CorsPolicy.parse("*", credentials=True)


PREFLIGHT = {
    "Origin": SHOP,
    "Access-Control-Request-Method": "PUT",
    "Access-Control-Request-Headers": "content-type, x-functions-key",
}


@pytest.mark.parametrize(
    ("setting", "credentials", "request_headers", "preflight", "expected"),
    [
        # Allowed origin, one listed: the origin echoed, no Vary (Origins.Count > 1 only).
        (SHOP, False, {"Origin": SHOP}, False, {"Access-Control-Allow-Origin": SHOP}),
        # Several listed: Vary: Origin, since the answer depends on the origin.
        (
            f"{SHOP},{ADMIN}",
            False,
            {"Origin": ADMIN},
            False,
            {"Access-Control-Allow-Origin": ADMIN, "Vary": "Origin"},
        ),
        # Not listed, or no origin at all: no CORS headers (ApplyResult returns early).
        (SHOP, False, {"Origin": "http://evil.test"}, False, {}),
        (SHOP, False, {"Origin": ""}, False, {}),
        (SHOP, False, {}, False, {}),
        # Origins compare ordinally against the normalised list.
        (SHOP, False, {"Origin": "http://SHOP.test"}, False, {}),
        # The single origin "*": "*" back, whatever the origin.
        ("*", False, {"Origin": "http://anyone.test"}, False, {"Access-Control-Allow-Origin": "*"}),
        # Credentials: the header, on simple and preflight answers alike.
        (
            SHOP,
            True,
            {"Origin": SHOP},
            False,
            {"Access-Control-Allow-Origin": SHOP, "Access-Control-Allow-Credentials": "true"},
        ),
        # Preflight: any method and any header means the requested ones are echoed.
        (
            SHOP,
            False,
            PREFLIGHT,
            True,
            {
                "Access-Control-Allow-Origin": SHOP,
                "Access-Control-Allow-Headers": "content-type,x-functions-key",
                "Access-Control-Allow-Methods": "PUT",
            },
        ),
        (SHOP, False, {**PREFLIGHT, "Origin": "http://evil.test"}, True, {}),
    ],
)
def test_response_headers_follow_asp_net_cores_cors_service(
    setting, credentials, request_headers, preflight, expected
):
    policy = CorsPolicy.parse(setting, credentials)
    assert policy is not None
    assert policy.headers(request_headers, preflight=preflight) == expected
