import pytest

from sandbox.stripe import forms
from sandbox.stripe.errors import StripeError


def test_nested_keys_become_objects_and_indexed_keys_arrays():
    assert forms.parse("a=1&m[x]=y&e[]=p&e[]=q&l[0][v]=5&l[1][v]=6") == {
        "a": "1",
        "m": {"x": "y"},
        "e": ["p", "q"],
        "l": [{"v": "5"}, {"v": "6"}],
    }


def test_a_key_used_as_value_and_object_is_refused():
    with pytest.raises(StripeError) as info:
        forms.parse("a=1&a[b]=2")
    assert info.value.status == 400


@pytest.mark.parametrize(("raw", "ok"), [("12", True), ("-3", True), ("1.5", False), ("x", False)])
def test_integers_are_whole_numbers(raw, ok):
    if ok:
        assert forms.integer({"amount": raw}, "amount") == int(raw)
    else:
        with pytest.raises(StripeError) as info:
            forms.integer({"amount": raw}, "amount")
        assert info.value.param == "amount"


def test_booleans_are_true_or_false_only():
    assert forms.boolean({"b": "true"}, "b") is True
    with pytest.raises(StripeError):
        forms.boolean({"b": "yes"}, "b")


def test_metadata_limits_are_stripes():
    with pytest.raises(StripeError):
        forms.metadata({"metadata": {"k" * 41: "v"}})
    with pytest.raises(StripeError):
        forms.metadata({"metadata": {str(i): "v" for i in range(51)}})
    assert forms.metadata({"metadata": ""}, {"a": "1"}) == {}
