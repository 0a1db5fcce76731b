"""Everything the store says to UPS (au.proto, ``AmazonToUps``), built here and nowhere
else, and UPS's answers about accounts recorded. Each function writes the message to the
durable outbox (``messaging``) in the caller's transaction; the fulfilment daemon sends
it and re-sends it until UPS acks it.

Callers pass plain values (ids, places, items), not the store's models: this app is the
gateway, below every other app of the store, and knows nothing of orders or products.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from amazon_ups.amazon.carrier import selectors
from amazon_ups.amazon.carrier.models import UpsAccount
from amazon_ups.amazon.carrier.selectors import UPS, AccountAnswer, AccountState
from amazon_ups.common.daemon.wakeup import channel_of, notify
from amazon_ups.common.messaging import services as messaging
from amazon_ups.protocol import au_pb2 as au

MAX_REASON = 1000  # characters of a LoadFailed's reason


def _package_ref(package_id: int) -> str:
    return f"order:{package_id}"  # the store's package ids are its order ids


@dataclass(frozen=True)
class Item:
    product_id: int
    description: str
    count: int


def pickup_request(
    *,
    package_id: int,
    warehouse: tuple[int, int, int],
    destination: tuple[int, int],
    items: list[Item],
    ups_account: int | None,
) -> None:
    """Ask UPS for a truck at ``warehouse`` (id, x, y) for the package (protocol 5.2)."""
    warehouse_id, x, y = warehouse
    request = au.PickupRequest(
        package_id=package_id,
        warehouse=au.Warehouse(id=warehouse_id, x=x, y=y),
        dest_x=destination[0],
        dest_y=destination[1],
        items=[
            au.Item(product_id=i.product_id, description=i.description, count=i.count)
            for i in items
        ],
    )
    if ups_account is not None:
        request.ups_account = ups_account
    messaging.send(UPS, "pickups", request, ref=_package_ref(package_id))


def package_loaded(package_id: int, truck_id: int) -> None:
    loaded = au.PackageLoaded(package_id=package_id, truck_id=truck_id)
    messaging.send(UPS, "loaded", loaded, ref=_package_ref(package_id))


def load_failed(package_id: int, truck_id: int, reason: str) -> None:
    """The world would not load the package on the truck UPS sent (protocol 5.11)."""
    failed = au.LoadFailed(package_id=package_id, truck_id=truck_id, reason=reason[:MAX_REASON])
    messaging.send(UPS, "load_failed", failed, ref=_package_ref(package_id))


def world_created(world_id: int) -> None:
    """We made the world: UPS joins it (protocol 4)."""
    messaging.send(UPS, "worlds", au.WorldCreated(world_id=world_id), ref=f"world:{world_id}")


def package_given_up(package_id: int, reason: str) -> None:
    """The store gave the package up: a truck waiting for it is not held for nothing
    (protocol 5.10, an Error about no message of UPS's)."""
    error = au.Error(origin_seqnum=-1, message=reason, package_id=package_id)
    messaging.send(UPS, "errors", error, ref=_package_ref(package_id))


def refuse(seqnum: int, problem: str, package_id: int | None = None) -> None:
    """UPS's message ``seqnum`` is refused for ``problem`` (protocol 5.10): the one place
    where the wire's ``error: ...`` text is written."""
    error = au.Error(origin_seqnum=seqnum, message=f"error: {problem}")
    if package_id is not None:
        error.package_id = package_id
    messaging.send(UPS, "errors", error, ref=_package_ref(package_id) if package_id else "")


# -- accounts -------------------------------------------------------------------------------

# A checkout page asks as the shopper types: an answer this recent (seconds) needs no new
# question, nor does a question still waiting this long for its answer.
ACCOUNT_ANSWER_FRESH = 60.0
ACCOUNT_QUESTION_PENDING = 30.0


def account_check(ups_account: int) -> None:
    """Ask UPS whether the account exists (protocol 5.8); ``account_status_record``
    records the answer. Called in the transaction that gives the id (an order, a profile)."""
    check = au.AccountCheck(ups_account=ups_account)
    messaging.send(UPS, "account_checks", check, ref=selectors.account_ref(ups_account))


def account_check_waking(ups_account: int) -> None:
    """``account_check`` from the web, the fulfilment daemon woken once it commits (an
    order placed wakes it anyway): the daemon reads its outbox when woken, when it wrote
    there itself, or at its safety look, not at every look."""
    account_check(ups_account)
    transaction.on_commit(lambda: notify(channel_of("amazon")))


def account_ask(ups_account: int) -> AccountState:
    """Ask UPS about the account unless a fresh answer or a recent question makes it
    needless; returns what we know now. Called in a transaction."""
    state = selectors.ups_account_state(ups_account)
    recent = {
        AccountAnswer.CHECKING: (state.asked_at, ACCOUNT_QUESTION_PENDING),
        AccountAnswer.LINKED: (state.answered_at, ACCOUNT_ANSWER_FRESH),
        AccountAnswer.UNKNOWN: (state.answered_at, ACCOUNT_ANSWER_FRESH),
    }
    at, fresh = recent[state.state]
    if at is not None and (timezone.now() - at).total_seconds() < fresh:
        return state
    account_check_waking(ups_account)
    return selectors.ups_account_state(ups_account)


def account_status_record(message: au.AccountStatus) -> None:
    """UPS's answer about an account; the latest answer wins."""
    known = UpsAccount.objects.select_for_update().filter(ups_account=message.ups_account).first()
    if known is not None and message.seqnum <= known.seqnum:
        return
    UpsAccount.objects.update_or_create(
        ups_account=message.ups_account,
        defaults={"exists": message.exists, "seqnum": message.seqnum},
    )
