"""What the store knows of UPS's answers."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from enum import StrEnum

from amazon_ups.amazon.carrier.models import UpsAccount
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.common.queries import one_or_none

UPS = "ups"  # the messaging peer of the UPS link


def account_ref(ups_account: int) -> str:
    """The ``ref`` of our AccountChecks about ``ups_account``."""
    return f"ups-account:{ups_account}"


class AccountAnswer(StrEnum):
    CHECKING = "checking"  # our latest question is newer than UPS's latest answer
    LINKED = "linked"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class AccountState:
    number: int
    state: AccountAnswer
    asked_at: datetime.datetime | None = None  # our latest question
    answered_at: datetime.datetime | None = None  # UPS's latest answer

    @property
    def text(self) -> str:
        if self.state == AccountAnswer.LINKED:
            return f"linked to UPS account {self.number}"
        if self.state == AccountAnswer.UNKNOWN:
            return f"UPS does not know account {self.number} \u2014 your package travels unlinked"
        return "checking with UPS\u2026"


def ups_account_state(ups_account: int) -> AccountState:
    """What UPS said of the account, or CHECKING while our latest question about it
    is newer than its latest answer."""
    answer = one_or_none(UpsAccount.objects.filter(ups_account=ups_account))
    asked = (
        OutgoingMessage.objects.filter(
            peer=UPS, field="account_checks", ref=account_ref(ups_account)
        )
        .order_by("-id")
        .values_list("created_at", flat=True)
        .first()
    )
    answered = answer.updated_at if answer is not None else None
    if answer is None or (asked is not None and asked > answer.updated_at):
        return AccountState(ups_account, AccountAnswer.CHECKING, asked, answered)
    found = AccountAnswer.LINKED if answer.exists else AccountAnswer.UNKNOWN
    return AccountState(ups_account, found, asked, answered)
