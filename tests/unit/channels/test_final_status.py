"""A lost callback's lookup as the request's final result, without I/O: final statuses become the outcome
the callback would have carried, with its error code's failure and the provider's price; a send still under
way is no result yet; a send the provider has no record of cannot be settled."""

from __future__ import annotations

from decimal import Decimal

import pytest

from schemas.vocab import FailureKind, OutcomeStatus
from services.channels.drivers import CannotReconcile, asked
from services.channels.ports import ProviderStatus


def test_a_message_s_final_status_is_the_outcome_with_its_failure_and_no_second_cost() -> None:
    found = ProviderStatus("undelivered", OutcomeStatus.UNDELIVERED, "30006", Decimal("0.00790"), "USD")
    result = asked(found, "SM1", "message", priced=False)
    assert result is not None
    assert (result.status, result.final, result.provider_ref) == (OutcomeStatus.UNDELIVERED, True, "SM1")
    assert (result.error_code, result.failure) == ("30006", FailureKind.UNREACHABLE_DESTINATION)
    assert result.cost == 0  # the message's cost was on its "sent", as with a callback
    assert "undelivered" in result.detail


def test_a_call_s_final_status_carries_its_duration_and_price() -> None:
    found = ProviderStatus("completed", OutcomeStatus.VOICEMAIL, None, Decimal("0.014"), "USD", 31)
    result = asked(found, "CA1", "call", priced=True)
    assert result is not None
    assert (result.status, result.duration_seconds, result.failure) == (OutcomeStatus.VOICEMAIL, 31, None)
    assert (result.cost, result.cost_currency) == (Decimal("0.0140"), "USD")


def test_a_send_still_under_way_is_no_result_yet() -> None:
    assert asked(ProviderStatus("sent", None), "SM1", "message", priced=False) is None


def test_a_send_the_provider_has_no_record_of_cannot_be_settled() -> None:
    with pytest.raises(CannotReconcile, match="no record of the message"):
        asked(None, "SM1", "message", priced=False)
