"""A local Stripe API (test mode) for cspflow: `python -m sandbox stripe`.

The workflows' dunning, billing and onboarding tests run against it, so it follows Stripe's
documented behaviour, not cspflow's expectations, and imports nothing from the app (shared/,
triggers/, workflows/, activities/; tests/sandbox/stripe/test_import_boundary.py holds it to
that). docs/sandbox-stripe.md lists what is simulated, with the Stripe page each behaviour
follows, and what is not.

Serves Stripe's v1 REST conventions on 127.0.0.1 for the endpoints cspflow uses, keeps state
in SQLite under `--data`, reads time from the shared clock (`--clock-url`, or a `Clock` passed
in-process), and delivers signed webhooks to `--webhook-url` with Stripe's retries on that
clock (`--webhook-retries live`: backoff over 3 days; `test`: 3 retries over a few hours).
`--webhook-secret` may be repeated while rotating: every active secret signs (one `v1` each).
`--webhook-duplicate-rate` and `--webhook-out-of-order-rate` deliver a share of the events
twice, or after a later event, as Stripe may; `--seed` makes the picks reproducible.

Endpoints: customers (+ `/payment_methods`, `/balance_transactions`), payment_methods
(`/attach`, `/detach`), setup_intents (`/confirm`), invoiceitems, invoices (`/finalize`,
`/pay`, `/void`, `/mark_uncollectible`, `/send`, `/lines`), invoice_payments, credit_notes,
payment_intents (`/confirm`), charges, refunds, disputes, checkout/sessions (setup mode: the
"update your card" page), events. Conventions: form bodies with nested keys, `expand[]`,
list objects with
`has_more`/`starting_after`/`ending_before`/`limit`, `Stripe-Version`, Stripe's error object
and status codes (400, 401, 402, 404, 429 with `--rate-limit`), `Idempotency-Key` replay with
`Idempotent-Replayed: true` and `idempotency_error` on reuse with other parameters.

Test payment methods (Stripe's, https://docs.stripe.com/testing). Each use of a token creates
a new PaymentMethod, as in Stripe. Error code / decline_code as the testing page lists them
("-": the page gives none; the error code alone tells the reason):
    pm_card_visa, pm_card_visa_debit, pm_card_mastercard, pm_card_amex   succeed
    pm_card_[visa_]chargeDeclined                       card_declined / generic_decline
    pm_card_[visa_]chargeDeclinedInsufficientFunds      card_declined / insufficient_funds
    pm_card_[visa_]chargeDeclinedLostCard               card_declined / lost_card
    pm_card_[visa_]chargeDeclinedStolenCard             card_declined / stolen_card
    pm_card_[visa_]chargeDeclinedVelocityLimitExceeded  card_declined / card_velocity_exceeded
    pm_card_[visa_]chargeDeclinedExpiredCard            expired_card / -
    pm_card_[visa_]chargeDeclinedIncorrectCvc           incorrect_cvc / -
    pm_card_[visa_]chargeDeclinedProcessingError        processing_error / -
      (these decline cards cannot be attached to a customer: attaching fails with the same
      decline, as Stripe documents; pass them as `payment_method` to pay/confirm instead)
    pm_card_chargeCustomerFail                attaches; every charge card_declined
    pm_card_authenticationRequired            needs 3-D Secure: off-session charges fail with
                                              authentication_required; an invoice `/pay`
                                              answers invoice_payment_intent_requires_action
                                              and emits invoice.payment_action_required
    pm_card_createDispute                     succeeds, then charge.dispute.created
    pm_card_radarBlock (= pm_card_chargeDeclinedFraudulent, 4100000000000019)
                                              attaches; every charge is blocked by Radar:
                                              card_declined / fraudulent, outcome.type
                                              blocked, reason highest_risk_level
Issuer declines have `outcome.type` issuer_declined. None of Stripe's test cards carries an
`advice_code`: Stripe sends one only when the issuer gave it, and its error objects leave
null fields out.

Sandbox-only payment methods (Stripe cannot script these):
    pm_card_sandbox_fail_after_<N>[_<reason>]
        attaches; the first N charges succeed, every later one declines like the Stripe card
        with that decline_code (or error code when it has none): generic_decline (default),
        insufficient_funds, lost_card, stolen_card, card_velocity_exceeded, expired_card,
        incorrect_cvc, processing_error.
        e.g. pm_card_sandbox_fail_after_2_insufficient_funds
        A suffix `_advice_<advice_code>` adds the issuer's advice, e.g.
        pm_card_sandbox_fail_after_0_insufficient_funds_advice_try_again_later
    pm_card_sandbox_decline_first_<K>[_<reason>][_advice_<advice_code>]
        attaches; the first K charges decline like the card with that reason (as above), every
        later one succeeds: recovery by retry. e.g. pm_card_sandbox_decline_first_1_insufficient_funds
    pm_card_sandbox_expires_<YYYY>_<MM>
        a Visa expiring at the end of that month (card.exp_month/exp_year); charges after the
        month decline with expired_card. e.g. pm_card_sandbox_expires_2026_03
        No `customer.source.expiring` is emitted for it: Stripe sends that event for legacy
        card sources, not for PaymentMethods (mozilla/fxa#11798 relays Stripe's answer;
        stripe/stripe-cli#874), so cspflow must find expiring cards itself (list the
        customer's payment methods and read their expiry).
    POST /_sandbox/payment_methods/{pm}/automatic_update  exp_month, exp_year[, last4]
        the card network reissued the card: updates it and emits
        payment_method.automatically_updated (Stripe's automatic card updater).
    POST /_sandbox/declines     customer=<cus> or payment_method=<pm>, decline_code, code,
                                advice_code, outcome_type (issuer_declined|blocked|invalid),
                                message, network_decline_code, network_advice_code, times:
                                the next charges (all, or `times` of them) of that card or
                                of any card of that customer decline so. Answers the script;
                                POST /_sandbox/declines/{id}/cancel ends it.
    GET /_sandbox/deliveries    webhook delivery log (attempts, state, last status).
    GET|POST /i/{invoice}       the hosted invoice page behind `hosted_invoice_url`: the
                                pay link; POST payment_method=<token or pm id> pays it.
    GET|POST /c/{session}       the hosted Checkout page behind a setup-mode session's `url`;
                                POST payment_method=<token> saves the card (SetupIntent) and
                                emits checkout.session.completed. Sessions expire after 24 h
                                of shared time.

`--seed-data demo` creates the demo partner's customers and cards on first start (seed.py).

Automatic collection (`auto_advance=true`) runs on the shared clock: drafts finalize an hour
after creation, the first attempt comes an hour after finalizing, then Smart-Retries-like
retries (`--auto-retries`, `--auto-retry-window-days`); sent invoices get `invoice.will_be_due`
and `invoice.overdue` (`--will-be-due-days`, `--overdue-days`). See automation.py.

The customer balance (credit notes' `credit_amount`, `/balance_transactions` adjustments) is
applied when the next invoice is finalized (`starting_balance`, `ending_balance`). Credit
notes take `custom_line_item` and `invoice_line_item` lines and split into pre- and
post-payment amounts.

Modules: app.py (HTTP, idempotency, hosted pages), customers.py (customers, payment methods,
SetupIntents, balance ledger), invoicing.py (invoice items, invoices, payments on them),
credit_notes.py, payments.py (PaymentIntents, the charge engine, refunds, scripted declines),
cards.py (test cards), checkout.py, automation.py + schedule.py (what Stripe does on its own
and when), webhooks.py (delivery), store.py, seed.py, server.py / cli.py (running it).

Tax rates (`/v1/tax_rates`, on invoice items; tax_rates.py); not simulated: subscriptions,
Stripe Tax (automatic tax), discounts, Connect, payment methods other than cards.
API keys: any `sk_test_...`/`rk_test_...`; one account. Amounts are integer minor units
throughout.
"""
