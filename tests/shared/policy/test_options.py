"""What a person deciding about a subscription can do now (shared/policy/options.py).

Each option is the decision the change itself gets from shared/policy/nce.py, so these tables
cite the same rules: docs/rules.md#options-now, and per row the rule that decided."""

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.models.catalog import Offer
from shared.models.subscription import SeatBatch, Subscription
from shared.policy.nce import refundable_seats
from shared.policy.options import Option, SeatWindow, options_now, seat_windows
from shared.policy.renewal import RenewalContext

RULES_MD = Path(__file__).resolve().parents[3] / "docs" / "rules.md"
HEADINGS = set(re.findall(r"^### ([a-z0-9-]+)$", RULES_MD.read_text(), re.MULTILINE))

PURCHASED = datetime(2026, 1, 14, 16, 57, 14, tzinfo=UTC)
TERM_END = datetime(2027, 1, 14, tzinfo=UTC)  # commitmentEndDate 2027-01-13, inclusive
H = timedelta(hours=1)
D = timedelta(days=1)
WINDOW_END = PURCHASED + 168 * H
LOCK = TERM_END - 24 * H
DAY_3 = PURCHASED + 3 * D
MID_TERM = datetime(2026, 6, 1, tzinfo=UTC)
IN_LOCK = TERM_END - 2 * H
RENEWING = TERM_END + 2 * H
ENDED = TERM_END + 30 * H
AFTER_RENEWAL = TERM_END + 24 * H


def sub(**overrides) -> Subscription:
    data = {
        "id": "a4c1340d-6911-4758-bba3-0c4c6007d161",
        "offerId": "CFQ7TTC0LH18:0001:CFQ7TTC0K971",
        "quantity": 15,
        "status": "active",
        "autoRenewEnabled": True,
        "billingCycle": "monthly",
        "termDuration": "P1Y",
        "effectiveStartDate": PURCHASED.isoformat(),
        "commitmentEndDate": "2027-01-13T00:00:00Z",
    }
    data.update(overrides)
    return Subscription.model_validate(data)


def refundable(*batches: tuple[int, datetime]) -> dict[str, object]:
    return {
        "totalQuantity": sum(q for q, _ in batches),
        "details": [{"quantity": q, "allowedUntilDateTime": t.isoformat()} for q, t in batches],
    }


def offer(rank: int, term: str = "P1Y", product: str | None = None) -> Offer:
    return Offer.model_validate(
        {
            "catalog_item_id": f"{product or f'CFQ7TTC0LH1{rank}'}:0001:CFQ7TTC0K971",
            "country": "US",
            "name": f"rank {rank}",
            "term_duration": term,
            "billing_cycle": "monthly",
            "unit_cost": {"amount_minor": 600 * rank, "currency": "USD"},
            "family": "m365-business",
            "rank": rank,
        }
    )


CURRENT = offer(1, product="CFQ7TTC0LH18")
FAMILY = (offer(0), CURRENT, offer(2), offer(2, term="P1M"), offer(3, term="P3Y"))


def by_name(options: tuple[Option, ...]) -> dict[str, Option]:
    return {o.name: o for o in options}


# --- seat windows ----------------------------------------------------------------------------


# docs/rules.md#seat-windows, docs/rules.md#partner-center-dates-win
@pytest.mark.parametrize(
    ("subscription", "batches", "now", "source", "windows", "why"),
    [
        (sub(), (), DAY_3, "term", [(15, WINDOW_END)], "the whole purchase, 168 h"),
        (sub(), (), MID_TERM, "term", [], "the purchase's window has closed"),
        (
            sub(refundableQuantity=refundable((10, PURCHASED + 7 * D), (3, PURCHASED + 40 * D))),
            (),
            PURCHASED + 35 * D,
            "partner_center",
            [(3, PURCHASED + 40 * D)],
            "refundableQuantity.details, each batch its own deadline",
        ),
        (
            sub(refundableQuantity=refundable((3, PURCHASED + 40 * D), (10, PURCHASED + 7 * D))),
            (),
            PURCHASED,
            "partner_center",
            [(10, PURCHASED + 7 * D), (3, PURCHASED + 40 * D)],
            "earliest deadline first",
        ),
        (
            sub(quantity=2, refundableQuantity=refundable((10, WINDOW_END), (3, MID_TERM))),
            (),
            PURCHASED,
            "partner_center",
            [(2, MID_TERM)],
            "never more than the subscription has: the window closing first gives way",
        ),
        (
            sub(quantity=12, refundableQuantity=refundable((10, WINDOW_END), (3, MID_TERM))),
            (),
            PURCHASED,
            "partner_center",
            [(9, WINDOW_END), (3, MID_TERM)],
            "capped, and still exact after the first window closes",
        ),
        (
            sub(refundableQuantity=refundable((0, MID_TERM), (2, MID_TERM + D))),
            (),
            PURCHASED,
            "partner_center",
            [(2, MID_TERM + D)],
            "an empty batch is no window",
        ),
        (
            sub(refundableQuantity={"totalQuantity": 4, "details": []}),
            (),
            PURCHASED + 2 * D,
            "partner_center",
            [(4, WINDOW_END)],
            "totalQuantity without details: until the cancellation window closes",
        ),
        (
            sub(),
            (
                SeatBatch(quantity=10, added_at=PURCHASED),
                SeatBatch(quantity=5, added_at=PURCHASED + 30 * D),
            ),
            PURCHASED + 32 * D,
            "seat_batches",
            [(5, PURCHASED + 30 * D + 168 * H)],
            "cspflow's recorded batches, each + 168 h",
        ),
    ],
)
def test_seat_windows(subscription, batches, now, source, windows, why):
    found = seat_windows(subscription, now, batches)
    assert found.source == source, why
    assert found.windows == tuple(SeatWindow(quantity=q, until=t) for q, t in windows), why
    # The windows add up to what a removal would be allowed now (the same rule).
    assert found.removable == refundable_seats(subscription, now, batches), why


def test_after_the_first_window_the_rest_still_adds_up():
    subscription = sub(quantity=12, refundableQuantity=refundable((10, WINDOW_END), (3, MID_TERM)))
    later = WINDOW_END + H
    assert seat_windows(subscription, later).removable == refundable_seats(subscription, later)
    assert seat_windows(subscription, PURCHASED).windows[-1].quantity == 3


# --- the options ---------------------------------------------------------------------------

# (possible, rule, until, possible_from) per option; None: the option is not listed.
OPEN = True
NOT = False


# docs/rules.md#options-now, and per option the rule it names
@pytest.mark.parametrize(
    ("subscription", "now", "expected", "why"),
    [
        (
            sub(),
            DAY_3,
            {
                "add_seats": (OPEN, "add-seats", TERM_END, None),
                "remove_seats": (OPEN, "seat-windows", WINDOW_END, None),
                "reduce_next_term": (OPEN, "remove-seats", LOCK, None),
                "cancel": (OPEN, "cancellation-window", WINDOW_END, None),
                "turn_off_auto_renew": (OPEN, "auto-renew", LOCK, None),
                "suspend": (OPEN, "suspend", TERM_END, None),
            },
            "day 3: inside the 168 h window everything is open",
        ),
        (
            sub(),
            MID_TERM,
            {
                "add_seats": (OPEN, "add-seats", TERM_END, None),
                "remove_seats": (NOT, "seat-windows", None, None),
                "reduce_next_term": (OPEN, "remove-seats", LOCK, None),
                "cancel": (NOT, "cancellation-window", None, None),
                "turn_off_auto_renew": (OPEN, "auto-renew", LOCK, None),
            },
            "mid-term: no refund any more; a smaller next term, or auto-renew off",
        ),
        (
            sub(),
            IN_LOCK,
            {
                "add_seats": (OPEN, "add-seats", TERM_END, None),
                "remove_seats": (NOT, "renewal-lock", None, AFTER_RENEWAL),
                "reduce_next_term": (NOT, "renewal-lock", None, AFTER_RENEWAL),
                "cancel": (NOT, "renewal-lock", None, AFTER_RENEWAL),
                "turn_off_auto_renew": (NOT, "renewal-lock", None, None),
                "suspend": (OPEN, "suspend", TERM_END, None),
            },
            "the renewal lock: seats can still be added, renewal settings wait",
        ),
        (
            sub(),
            RENEWING,
            {
                "add_seats": (NOT, "renewal-processing", None, AFTER_RENEWAL),
                "remove_seats": (NOT, "renewal-processing", None, AFTER_RENEWAL),
                "cancel": (NOT, "renewal-processing", None, AFTER_RENEWAL),
                "turn_off_auto_renew": (NOT, "renewal-processing", None, AFTER_RENEWAL),
                "suspend": (NOT, "renewal-processing", None, AFTER_RENEWAL),
            },
            "renewal processing: everything waits",
        ),
        (
            sub(),
            ENDED,
            {
                "add_seats": (NOT, "stale-copy", None, None),
                "remove_seats": (NOT, "stale-copy", None, None),
                "reduce_next_term": (NOT, "stale-copy", None, None),
            },
            "a copy of an ended term is read again before anything is offered",
        ),
        (
            sub(status="suspended", autoRenewEnabled=False),
            DAY_3,
            {
                "add_seats": (NOT, "add-seats", None, None),
                "remove_seats": (NOT, "remove-seats", None, None),
                "reduce_next_term": (NOT, "remove-seats", None, None),
                "cancel": (OPEN, "cancellation-window", WINDOW_END, None),
                "turn_on_auto_renew": (NOT, "auto-renew", None, None),
                "reactivate": (OPEN, "reactivate", TERM_END, None),
            },
            "suspended: reactivate first; a cancellation inside the window still works",
        ),
        (
            sub(status="deleted", autoRenewEnabled=False),
            MID_TERM,
            {
                "cancel": (NOT, "cancel", None, None),
                "suspend": (NOT, "suspend", None, None),
            },
            "a deleted subscription: nothing to do",
        ),
        (
            sub(autoRenewEnabled=False),
            MID_TERM,
            {
                "remove_seats": (NOT, "seat-windows", None, None),
                "reduce_next_term": (NOT, "remove-seats", None, None),
                "cancel": (NOT, "cancel", None, None),
                "turn_on_auto_renew": (OPEN, "auto-renew", LOCK, None),
            },
            "auto-renew off: it ends at term end; nothing to schedule until it is on",
        ),
        (
            sub(quantity=1),
            DAY_3,
            {
                "remove_seats": (NOT, "remove-seats", None, None),
                "reduce_next_term": (NOT, "remove-seats", None, None),
                "cancel": (OPEN, "cancellation-window", WINDOW_END, None),
            },
            "one seat: removing it is a cancellation",
        ),
    ],
)
def test_options_now(subscription, now, expected, why):
    options = by_name(options_now(subscription, now).options)
    for name, (possible, rule, until, possible_from) in expected.items():
        option = options[name]
        assert (option.possible, option.rule, option.until, option.possible_from) == (
            possible,
            rule,
            until,
            possible_from,
        ), f"{name}: {why}"


def test_seats_removable_now_and_the_first_deadline():
    subscription = sub(
        quantity=20, refundableQuantity=refundable((5, MID_TERM + D), (3, MID_TERM + 3 * D))
    )
    removal = by_name(options_now(subscription, MID_TERM).options)["remove_seats"]
    assert (removal.possible, removal.seats, removal.until) == (True, 8, MID_TERM + D)
    everything = by_name(options_now(sub(), DAY_3).options)["remove_seats"]
    assert everything.seats == 14  # the last seat goes with a cancellation


def test_a_mid_term_change_says_it_drops_what_was_scheduled():
    scheduled = {
        "scheduledNextTermInstructions": {
            "product": {
                "productId": "CFQ7TTC0LH18",
                "skuId": "0001",
                "availabilityId": "CFQ7TTC0K971",
                "billingCycle": "Monthly",
                "termDuration": "P1Y",
            },
            "quantity": 12,
        }
    }
    standing = options_now(sub(**scheduled), MID_TERM)
    options = by_name(standing.options)
    assert options["add_seats"].drops_scheduled_changes  # docs/rules.md#scheduled-changes-dropped
    assert options["turn_off_auto_renew"].drops_scheduled_changes
    assert not options["reduce_next_term"].drops_scheduled_changes
    # The next term is the scheduled one: 12 seats, so at most 11 can be cut from it.
    assert (standing.next_term.scheduled, standing.next_term.quantity) == (True, 12)
    assert options["reduce_next_term"].seats == 11


# docs/rules.md#upgrade, docs/rules.md#downgrade
@pytest.mark.parametrize(
    ("subscription", "now", "current", "family", "upgrade", "downgrade", "why"),
    [
        (
            sub(),
            MID_TERM,
            CURRENT,
            FAMILY,
            (True, "upgrade", TERM_END, (offer(2).key, offer(3, term="P3Y").key)),
            (True, "downgrade", LOCK, (offer(0).key,)),
            "higher ranks now (never a shorter term), lower ones at renewal",
        ),
        (
            sub(),
            MID_TERM,
            None,
            FAMILY,
            (False, "upgrade", None, ()),
            (False, "downgrade", None, ()),
            "the offer is not in the catalogue",
        ),
        (
            sub(),
            MID_TERM,
            CURRENT,
            (CURRENT,),
            (False, "upgrade", None, ()),
            (False, "downgrade", None, ()),
            "nothing above or below in the family",
        ),
        (
            sub(status="suspended", autoRenewEnabled=False),
            MID_TERM,
            CURRENT,
            FAMILY,
            (False, "upgrade", None, ()),
            (False, "upgrade", None, ()),
            "only an active subscription changes SKU",
        ),
        (
            sub(),
            IN_LOCK,
            CURRENT,
            FAMILY,
            (True, "upgrade", TERM_END, (offer(2).key, offer(3, term="P3Y").key)),
            (False, "renewal-lock", None, ()),
            "in the lock an upgrade still applies now; a downgrade waits for the term after",
        ),
    ],
)
def test_sku_changes(subscription, now, current, family, upgrade, downgrade, why):
    options = by_name(options_now(subscription, now, current=current, family=family).options)
    for name, expected in (("upgrade", upgrade), ("downgrade_next_term", downgrade)):
        option = options[name]
        assert (option.possible, option.rule, option.until, option.targets) == expected, why


def test_the_standing_carries_the_term_the_deadline_and_the_no_answer_outcome():
    standing = options_now(sub(), MID_TERM, context=RenewalContext(customer_in_dunning=True))
    assert (standing.term_start, standing.term_end) == (PURCHASED, TERM_END)
    assert standing.cancellation_window_end == WINDOW_END
    assert standing.decision_deadline == TERM_END - 48 * H  # docs/rules.md#decision-deadline
    assert standing.renewal_lock == LOCK
    assert standing.answer_window == "open"
    assert standing.without_answer.action == "turn_off_auto_renew"  # docs/rules.md#no-answer
    assert standing.next_term.offer_key == "CFQ7TTC0LH18:0001:CFQ7TTC0K971:P1Y:monthly"
    assert options_now(sub(), MID_TERM).without_answer.action == "renew"


def test_every_option_names_a_rule_of_docs_rules_md():
    seen = set()
    subscriptions = [
        sub(),
        sub(status="suspended", autoRenewEnabled=False),
        sub(status="expired"),
        sub(quantity=1, autoRenewEnabled=False),
    ]
    for subscription in subscriptions:
        for now in (DAY_3, MID_TERM, IN_LOCK, RENEWING, ENDED):
            for family in ((), FAMILY):
                standing = options_now(subscription, now, current=CURRENT, family=family)
                seen |= {o.rule for o in standing.options}
    assert seen <= HEADINGS, seen - HEADINGS
