"""messaging.sent_together: a batch's messages in one INSERT at its end, for the peers
it holds; the others' written at once (UPS reads back its commands to the world)."""

from __future__ import annotations

import pytest
from django.db import transaction

from amazon_ups.common.messaging import services as messaging
from amazon_ups.common.messaging.models import OutgoingMessage
from amazon_ups.protocol import au_pb2 as au
from amazon_ups.protocol import world_amazon_pb2 as wa

pytestmark = pytest.mark.django_db


def written() -> list[tuple[str, int]]:
    return list(OutgoingMessage.objects.order_by("id").values_list("peer", "seqnum"))


def test_a_batch_holds_its_peers_messages_to_its_end_and_writes_the_others_at_once():
    with transaction.atomic():
        with messaging.sent_together(peers={"ups"}):
            messaging.send("ups", "account_checks", au.AccountCheck(ups_account=1))
            messaging.send("world", "queries", wa.AQuery(packageid=1))
            messaging.send("ups", "account_checks", au.AccountCheck(ups_account=2))
            assert written() == [("world", 1)]
            assert messaging.messages_held() == 2
        assert written() == [("world", 1), ("ups", 1), ("ups", 2)]
        assert messaging.messages_held() == 0


def test_a_unit_rolled_back_alone_drops_the_messages_it_held():
    with transaction.atomic(), messaging.sent_together():
        messaging.send("ups", "account_checks", au.AccountCheck(ups_account=1))
        with pytest.raises(KeyError), transaction.atomic(), messaging.sent_of_one_unit():
            messaging.send("ups", "account_checks", au.AccountCheck(ups_account=2))
            raise KeyError(2)
        # A batch within the batch is part of it: its messages wait for the outer end.
        with messaging.sent_together(peers={"world"}):
            messaging.send("ups", "account_checks", au.AccountCheck(ups_account=3))
        assert written() == []
    bodies = OutgoingMessage.objects.order_by("id").values_list("body", flat=True)
    assert [au.AccountCheck.FromString(bytes(b)).ups_account for b in bodies] == [1, 3]
