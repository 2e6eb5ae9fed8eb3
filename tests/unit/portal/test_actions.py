"""The read model and the actions built on it: what is owed, the promise's limits, ids from nonces."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from pydantic import BaseModel

from schemas import events as ev
from schemas.vocab import Channel, OutcomeStatus
from services.core import codec
from services.portal import actions
from services.portal.actions import Problem, PromiseLimits
from services.portal.book import Book, DebtorFile

NOW = datetime(2026, 6, 10, 16, 0, tzinfo=UTC)
LIMITS = PromiseLimits(max_days=30, min_amount=Decimal("1"))


def feed(book: Book, event: BaseModel, at: datetime, id: str | None = None) -> None:
    enc = codec.encode(event, source="/t", time=at, id=id)
    book.apply(codec.decode(enc.key, enc.value, enc.headers))


def overdue(
    amount: str = "120.00", as_of: datetime = NOW - timedelta(days=2), account: str = "a-0001"
) -> ev.AccountOverdue:
    return ev.AccountOverdue(
        debtor_id="d1",
        account_id=account,
        product="card",
        currency="USD",
        amount_due=Decimal(amount),
        total_outstanding=Decimal("900.00"),
        days_past_due=35,
        due_date=date(2026, 5, 6),
        as_of=as_of,
    )


def payment(pid: str, amount: str, after: str, at: datetime) -> ev.PaymentPosted:
    return ev.PaymentPosted(
        debtor_id="d1",
        account_id="a-0001",
        payment_id=pid,
        currency="USD",
        amount=Decimal(amount),
        outstanding_after=Decimal(after),
        posted_at=at,
    )


def book_with_debt() -> Book:
    book = Book()
    feed(book, ev.DebtorProfileUpdated(debtor_id="d1", timezone="America/New_York"), NOW - timedelta(days=3))
    feed(book, overdue(), NOW - timedelta(days=2))
    return book


def debtor(book: Book) -> DebtorFile:
    file = book.debtor("d1")
    assert file is not None
    return file


def test_what_is_owed_follows_overdues_and_later_payments() -> None:
    book = book_with_debt()
    feed(
        book, payment("p0", "50.00", "950.00", NOW - timedelta(days=5)), NOW
    )  # before the overdue: counted in it
    feed(book, payment("p1", "20.00", "880.00", NOW - timedelta(days=1)), NOW)
    (account,) = debtor(book).in_collections()
    assert (account.past_due, account.outstanding) == (Decimal("100.00"), Decimal("880.00"))
    assert [p.payment_id for p in account.recent_payments] == ["p1", "p0"]
    feed(
        book,
        ev.PaymentReversed(
            debtor_id="d1",
            account_id="a-0001",
            payment_id="p1",
            currency="USD",
            amount=Decimal("20.00"),
            reversed_at=NOW,
        ),
        NOW,
    )
    assert account.past_due == Decimal("120.00")


def test_an_account_leaves_collections_when_cured_or_paid() -> None:
    book = book_with_debt()
    feed(
        book,
        ev.AccountStatusChanged(
            debtor_id="d1", account_id="a-0001", status=ev.AccountStatus.CURED, effective_at=NOW
        ),
        NOW,
    )
    assert debtor(book).in_collections() == []
    feed(
        book, overdue(as_of=NOW + timedelta(days=1)), NOW + timedelta(days=1)
    )  # overdue again after the cure
    assert len(debtor(book).in_collections()) == 1
    feed(book, payment("p2", "120.00", "0", NOW + timedelta(days=2)), NOW)
    assert debtor(book).in_collections() == []


def test_the_newest_profile_wins_and_outcomes_are_recent_contacts() -> None:
    book = book_with_debt()
    feed(book, ev.DebtorProfileUpdated(debtor_id="d1", language="zh-CN"), NOW - timedelta(days=1))
    feed(book, ev.DebtorProfileUpdated(debtor_id="d1", language="en-GB"), NOW - timedelta(days=10))
    assert debtor(book).language == "zh-CN"
    outcome = ev.ContactOutcome(
        debtor_id="d1",
        outcome_id="o1",
        request_id="r1",
        account_id="a-0001",
        channel=Channel.SMS,
        status=OutcomeStatus.DELIVERED,
        final=True,
        occurred_at=NOW,
    )
    feed(book, outcome, NOW, id="o1")
    feed(book, outcome, NOW, id="o1")  # the same ce_id once
    assert [(c.channel, c.status) for c in debtor(book).contacts] == [("sms", "delivered")]
    assert book.seen("o1") and not book.seen("o2")


def test_a_promise_within_the_limits_is_a_web_promise_with_an_id_from_the_nonce() -> None:
    file = debtor(book_with_debt())
    made = actions.promise(file, "a-0001", "50.00", "2026-06-20", "nonce-aaaaaaaaaaaaaaaa", NOW, LIMITS)
    assert not isinstance(made, list)
    event, event_id = made
    assert (event.source, event.amount, event.promised_date, event.currency) == (
        ev.PromiseSource.WEB,
        Decimal("50.00"),
        date(2026, 6, 20),
        "USD",
    )
    assert event.promise_id == event_id
    again = actions.promise(file, "a-0001", "50.00", "2026-06-20", "nonce-aaaaaaaaaaaaaaaa", NOW, LIMITS)
    other = actions.promise(file, "a-0001", "50.00", "2026-06-20", "nonce-bbbbbbbbbbbbbbbb", NOW, LIMITS)
    assert not isinstance(again, list) and not isinstance(other, list)
    assert again[1] == event_id != other[1]


def test_a_promise_outside_the_limits_says_why() -> None:
    file = debtor(book_with_debt())

    def problems(account: str = "a-0001", amount: str = "50", day: str = "2026-06-20") -> object:
        made = actions.promise(file, account, amount, day, "nonce-aaaaaaaaaaaaaaaa", NOW, LIMITS)
        return made if isinstance(made, list) else "ok"

    assert problems(amount="120.00") == "ok"  # all that is past due
    assert problems(amount="120.01") == [Problem.AMOUNT]
    assert problems(amount="0.50") == [Problem.AMOUNT]
    assert problems(amount="10.001") == [Problem.AMOUNT]  # finer than cents
    assert problems(amount="ten") == [Problem.AMOUNT]
    assert problems(amount="NaN") == [Problem.AMOUNT]
    assert problems(day="2026-06-10") == [Problem.DATE]  # today in New York: from tomorrow on
    assert problems(day="2026-06-11") == "ok"
    assert problems(day="2026-07-10") == "ok"
    assert problems(day="2026-07-11") == [Problem.DATE]
    assert problems(day="soon") == [Problem.DATE]
    assert problems(amount="x", day="y") == [Problem.AMOUNT, Problem.DATE]
    assert problems(account="a-other") == [Problem.ACCOUNT]


def test_not_me_names_the_point_and_its_id_comes_from_the_nonce() -> None:
    event, event_id = actions.not_me("d1", "+12125550100", "nonce-aaaaaaaaaaaaaaaa", NOW)
    assert (event.address, event.source) == ("+12125550100", ev.WrongPartySource.PORTAL)
    assert actions.not_me("d1", "+12125550100", "nonce-aaaaaaaaaaaaaaaa", NOW)[1] == event_id
    assert actions.not_me("d1", "+12125550100", "nonce-bbbbbbbbbbbbbbbb", NOW)[1] != event_id
