"""What event intake keeps in the book: the inbox of workflows not deployed yet, ops alerts,
the polls' watermarks. Each one-time fact recorded once."""

from datetime import timedelta

from shared.book import Book
from shared.models.intake import OpsAlert, PendingWorkflowEvent, PollWatermark
from tests.shared.book.records import T0


def pending(
    instance: str = "dunning-inv-1", key: str = "evt_1", **overrides
) -> PendingWorkflowEvent:
    data = {
        "workflow": "dunning",
        "instance_id": instance,
        "action": "start",
        "event": "payment_failed",
        "event_key": key,
        "source": "stripe",
        "customer_id": "c-1",
        "payload": {"stripe_invoice_id": "in_1"},
        "recorded_at": T0,
    }
    return PendingWorkflowEvent.model_validate(data | overrides)


def test_an_event_is_kept_once_per_workflow_instance_and_key(book: Book):
    assert not book.workflow_inbox.record(pending()).already_done
    again = book.workflow_inbox.record(pending(recorded_at=T0 + timedelta(hours=1)))
    assert again.already_done and again.record.recorded_at == T0
    # A Partner Center key (slashes, bars) round-trips.
    key = "subscription-updated|customers/t/subscriptions/s|2026-03-02T09:00:00.000000Z"
    book.workflow_inbox.record(
        pending("renewal-s-20270302", key, workflow="renewal", action="signal")
    )
    assert book.workflow_inbox.find("renewal", "renewal-s-20270302", key) is not None


def test_a_workflow_reads_its_events_every_instance_and_no_other_workflows(book: Book):
    book.workflow_inbox.record(pending("dunning-inv-1", "evt_1"))
    book.workflow_inbox.record(
        pending("dunning-inv-1", "evt_2", action="signal", event="invoice_paid")
    )
    book.workflow_inbox.record(pending("dunning-inv-2", "evt_3"))
    book.workflow_inbox.record(pending("dunning-inv-2", "evt_4", workflow="dunningx"))
    book.workflow_inbox.record(pending("reconciliation-G1", "k", workflow="reconciliation"))
    everything = book.workflow_inbox.of_workflow("dunning").items
    assert [(e.instance_id, e.event_key) for e in everything] == [
        ("dunning-inv-1", "evt_1"),
        ("dunning-inv-1", "evt_2"),
        ("dunning-inv-2", "evt_3"),
    ]
    assert [
        e.event_key for e in book.workflow_inbox.of_instance("dunning", "dunning-inv-2").items
    ] == ["evt_3"]


def test_an_alert_is_raised_once_and_logged_once(book: Book, caplog):
    alert = OpsAlert(id="poison:q:evt_1", at=T0, kind="poison", summary="failed 5 times")
    with caplog.at_level("ERROR", logger="cspflow.alerts"):
        assert not book.alerts.raise_alert(alert).already_done
        assert book.alerts.raise_alert(alert.model_copy(update={"summary": "x"})).already_done
    assert caplog.text.count("ops alert poison:q:evt_1") == 1
    assert book.alerts.find(T0, "poison:q:evt_1") == alert
    later = OpsAlert(id="dispute:dp_1", at=T0 + timedelta(days=2), kind="dispute", summary="d")
    book.alerts.raise_alert(later)
    assert [a.id for a in book.alerts.of_days(T0, T0 + timedelta(days=1)).items] == [alert.id]
    assert len(book.alerts.of_days(T0, T0 + timedelta(days=2)).items) == 2


def test_a_watermark_is_saved_over_the_last(book: Book):
    assert book.watermarks.find("stripe_events") is None
    book.watermarks.save(PollWatermark(poll="stripe_events", position="evt_1", updated_at=T0))
    book.watermarks.save(PollWatermark(poll="stripe_events", position="evt_9", updated_at=T0))
    found = book.watermarks.find("stripe_events")
    assert found is not None and found.position == "evt_9"
