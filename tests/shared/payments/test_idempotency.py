import pytest

from shared.payments.idempotency import MAX_STRIPE_KEY, derive_key


def test_the_same_step_and_operation_always_give_the_same_key():
    assert derive_key("orch-1:pay:1", "invoice.pay") == derive_key("orch-1:pay:1", "invoice.pay")


def test_another_step_or_operation_gives_another_key():
    keys = {
        derive_key("orch-1:pay:1", "invoice.pay"),
        derive_key("orch-1:pay:2", "invoice.pay"),
        derive_key("orch-1:pay:1", "invoice.create"),
    }
    assert len(keys) == 3


def test_keys_fit_stripes_limit_and_do_not_leak_the_step_key():
    key = derive_key("customer jane@contoso.com " * 50, "invoice.pay")
    assert len(key) <= MAX_STRIPE_KEY
    assert "jane" not in key and key.startswith("cspflow-invoice.pay-")


@pytest.mark.parametrize(
    ("step", "operation"), [("", "x"), ("  ", "x"), ("s", ""), ("s", "o" * 65)]
)
def test_an_empty_step_or_bad_operation_is_refused(step, operation):
    with pytest.raises(ValueError):
        derive_key(step, operation)
