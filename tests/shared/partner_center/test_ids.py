import pytest

from shared.partner_center import request_id_for


def test_the_same_step_of_the_same_instance_always_gets_the_same_id():
    assert request_id_for("onboarding-42", "checkout") == request_id_for(
        "onboarding-42", "checkout"
    )


@pytest.mark.parametrize(
    ("a", "b"),
    [
        (("onboarding-42", "checkout"), ("onboarding-42", "create-cart")),
        (("onboarding-42", "checkout"), ("onboarding-43", "checkout")),
        (("a", "bc"), ("ab", "c")),  # the separator keeps the parts apart
    ],
)
def test_different_steps_or_instances_get_different_ids(a, b):
    assert request_id_for(*a) != request_id_for(*b)


def test_an_empty_instance_or_step_is_refused():
    with pytest.raises(ValueError):
        request_id_for("", "checkout")
