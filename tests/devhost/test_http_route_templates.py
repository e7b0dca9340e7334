"""Route templates as ASP.NET Core routing (the Functions host's) reads them."""

import pytest

from devhost.http_routes import Router, RouteTemplate, RouteTemplateError


# Constraint names and meanings: Microsoft Learn, "Routing in ASP.NET Core", route constraints.
@pytest.mark.parametrize(
    ("template", "path", "values"),
    [
        ("orders/{id:int}", "/orders/42", {"id": "42"}),
        ("orders/{id:int}", "/orders/-7", {"id": "-7"}),
        ("orders/{id:int}", "/orders/2147483648", None),  # beyond int32
        ("orders/{id:long}", "/orders/2147483648", {"id": "2147483648"}),
        ("flags/{on:bool}", "/flags/True", {"on": "True"}),
        ("flags/{on:bool}", "/flags/yes", None),
        ("at/{when:datetime}", "/at/2026-01-05T09:30:00", {"when": "2026-01-05T09:30:00"}),
        ("price/{p:decimal}", "/price/12.50", {"p": "12.50"}),
        ("price/{p:double}", "/price/abc", None),
        (
            "ids/{g:guid}",
            "/ids/0e2b9f68-4b3c-4f55-9a53-3b9b8f0c1f0a",
            {"g": "0e2b9f68-4b3c-4f55-9a53-3b9b8f0c1f0a"},
        ),
        ("ids/{g:guid}", "/ids/not-a-guid", None),
        ("names/{n:alpha}", "/names/Ada", {"n": "Ada"}),
        ("names/{n:alpha}", "/names/Ada1", None),
        ("names/{n:minlength(3)}", "/names/Al", None),
        ("names/{n:maxlength(3)}", "/names/Alan", None),
        ("names/{n:length(2,3)}", "/names/Alan", None),
        ("seats/{n:min(1)}", "/seats/0", None),
        ("seats/{n:max(300)}", "/seats/300", {"n": "300"}),
        ("seats/{n:range(1,300)}", "/seats/301", None),
        ("skus/{s:regex(^[A-Z]{{3}}-\\d+$)}", "/skus/CFQ-7", {"s": "CFQ-7"}),
        ("skus/{s:alpha:minlength(2)}", "/skus/a", None),
        ("a/{opt?}", "/a", {}),
        ("a/{opt?}", "/a/x", {"opt": "x"}),
        ("a/{page=1}", "/a", {"page": "1"}),
        ("files/{*rest}", "/files/x/y/z.txt", {"rest": "x/y/z.txt"}),
        ("{file}.{ext}", "/report.pdf", {"file": "report", "ext": "pdf"}),
        ("orders/{id}", "/ORDERS/a%2Fb", {"id": "a/b"}),
        ("orders/{id}", "/orders/7/", {"id": "7"}),
    ],
)
def test_a_template_matches_and_extracts_route_values(template, path, values):
    assert RouteTemplate(template).match(path) == values


@pytest.mark.parametrize(
    "template",
    ["a/{*rest}/b", "a/{x}/{x}", "a/{x:nonsense}", "a//b", "a/{1x}", "a/{n:range(a,b)}"],
)
def test_templates_the_host_would_refuse_are_refused(template):
    with pytest.raises(RouteTemplateError):
        RouteTemplate(template)


def test_the_router_prefers_literals_then_constraints_then_plain_then_catch_all():
    router: Router[str] = Router()
    router.add("items/{*rest}", None, "catch-all")
    router.add("items/{name}", None, "plain")
    router.add("items/{id:int}", None, "constrained")
    router.add("items/special", None, "literal")
    assert router.resolve("GET", "/items/special") == ("literal", {})
    assert router.resolve("GET", "/items/5") == ("constrained", {"id": "5"})
    assert router.resolve("GET", "/items/x") == ("plain", {"name": "x"})
    assert router.resolve("GET", "/items/x/y") == ("catch-all", {"rest": "x/y"})


def test_the_router_filters_methods():
    router: Router[str] = Router()
    router.add("things", ["POST"], "create")
    assert router.resolve("post", "/things") == ("create", {})
    assert router.resolve("GET", "/things") is None
