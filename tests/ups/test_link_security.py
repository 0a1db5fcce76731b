"""The Amazon-UPS link against strangers, over real sockets: the dispatch daemon's port
for Amazon, a real Amazon peer holding the live link, and strangers who try to take
it, read it, ack on it or inject into it."""

from __future__ import annotations

import asyncio
import contextlib
import ssl

import pytest
import trustme
from asgiref.sync import sync_to_async
from django.core.exceptions import ImproperlyConfigured
from django.db import connections

from amazon_ups.common.messaging.models import IncomingMessage, LinkState
from amazon_ups.protocol import au_pb2
from amazon_ups.protocol.framing import FrameDecoder, encode_frame
from amazon_ups.protocol.limits import AU_MAX_SUB_MESSAGES
from amazon_ups.protocol.link_auth import HandshakeFailed, LinkHandshake, Role
from amazon_ups.ups.accounts.models import Account
from amazon_ups.ups.shipments.models import Package
from tests.support import link_handshake
from tests.ups.amazon_peer import AmazonPeer
from tests.ups.helpers import make_user

pytestmark = pytest.mark.django_db(transaction=True)

STRANGER_PACKAGE = 666


@pytest.fixture(autouse=True)
async def close_connections_of_sync_to_async():
    yield
    await sync_to_async(connections.close_all)()


@pytest.fixture
def account(db, django_user_model) -> Account:
    return make_user(django_user_model, "recipient")


async def read_until_closed(reader: asyncio.StreamReader, timeout: float = 5.0) -> bytes:
    """Everything UPS sends a connection until it closes it; fails if it never does."""
    received = b""
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionResetError):  # closed with bytes unread: a reset
            while data := await reader.read(65536):
                received += data
    return received


def frames_of(data: bytes) -> list[bytes]:
    return FrameDecoder().feed(data)


async def account_round_trip(amazon: AmazonPeer, number: int) -> bool:
    """The live link still works: an account check is answered on it."""
    amazon.send(au_pb2.AccountCheck(ups_account=number))
    [status] = await amazon.wait_for(
        lambda: amazon.of("accounts", lambda m: m.ups_account == number)
    )
    return status.exists


def refusals() -> int:
    state = LinkState.objects.filter(peer="amazon").first()
    return state.refused if state else 0


def pickup(package_id: int, seqnum: int) -> au_pb2.PickupRequest:
    return au_pb2.PickupRequest(
        seqnum=seqnum,
        package_id=package_id,
        warehouse=au_pb2.Warehouse(id=1, x=10, y=10),
        dest_x=5,
        dest_y=5,
        items=[au_pb2.Item(product_id=1, description="Click here to claim your prize", count=1)],
    )


async def test_a_stranger_can_neither_displace_read_ack_nor_inject(world, run_daemon, account):
    daemon = run_daemon()
    amazon = await AmazonPeer.open(daemon.amazon_port)
    assert await account_round_trip(amazon, account.number)

    # 1. A stranger with a wrong secret: told so, and closed.
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.amazon_port)
    with pytest.raises(HandshakeFailed) as refused:
        await link_handshake(reader, writer, Role.AMAZON, secret="a-guess-at-ups-secret-0")
    assert "wrong proof" in str(refused.value)
    assert await read_until_closed(reader) == b""
    writer.close()

    # 2. A stranger who skips the handshake and sends what a real Amazon would: pickups
    # with a phishing text, and acks for every seqnum UPS could have used.
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.amazon_port)
    injected = au_pb2.AmazonToUps(
        pickups=[pickup(STRANGER_PACKAGE, seqnum=1_000_000)],
        account_checks=[au_pb2.AccountCheck(seqnum=1_000_001, ups_account=account.number)],
        acks=range(1, 200),
    )
    writer.write(encode_frame(injected.SerializeToString()))
    [reply] = frames_of(await read_until_closed(reader))
    challenge = au_pb2.LinkChallenge.FromString(reply)  # the handshake's refusal, nothing else
    assert challenge.error.startswith("error: malformed handshake")
    writer.close()

    # The live link was not touched and still works; nothing of the strangers' was done.
    assert not amazon.writer.is_closing()
    assert await account_round_trip(amazon, account.number + 1000) is False
    assert not await sync_to_async(Package.objects.filter(id=STRANGER_PACKAGE).exists)()
    assert not await sync_to_async(IncomingMessage.objects.filter(seqnum__gte=1_000_000).exists)()
    state = await sync_to_async(LinkState.objects.get)(peer="amazon")
    assert state.connected
    await wait_for_refusals(2)
    await amazon.close()


async def wait_for_refusals(at_least: int, timeout: float = 5.0) -> None:
    """The daemon records refusals for operators at most once a second."""
    async with asyncio.timeout(timeout):
        while await sync_to_async(refusals)() < at_least:
            await asyncio.sleep(0.05)


async def test_a_connection_that_never_proves_itself_is_closed_at_the_deadline(
    world, run_daemon, account, settings
):
    settings.AU_LINK_HANDSHAKE_TIMEOUT = 0.3
    daemon = run_daemon()
    amazon = await AmazonPeer.open(daemon.amazon_port)
    silent_reader, silent_writer = await asyncio.open_connection("127.0.0.1", daemon.amazon_port)
    # Half a hello, then nothing: it is closed, having been sent nothing.
    silent_writer.write(LinkHandshake(Role.AMAZON, b"").start()[:10])
    assert await read_until_closed(silent_reader, timeout=5.0) == b""
    silent_writer.close()
    assert await account_round_trip(amazon, account.number)
    await wait_for_refusals(1)
    state = await sync_to_async(LinkState.objects.get)(peer="amazon")
    assert "did not prove itself within 0.3 s" in state.last_refusal
    await amazon.close()


async def test_strangers_holding_connections_open_do_not_keep_amazon_out(
    world, run_daemon, account
):
    daemon = run_daemon()
    # Forty connections from another address, each saying nothing.
    held = []
    for _ in range(40):
        held.append(
            await asyncio.open_connection(
                "127.0.0.1", daemon.amazon_port, local_addr=("127.0.0.2", 0)
            )
        )
    amazon = await AmazonPeer.open(daemon.amazon_port)
    assert await account_round_trip(amazon, account.number)
    # All but the few allowed per address were closed at once.
    closed = 0
    for reader, writer in held:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(0.5):
                if await reader.read(1) == b"":
                    closed += 1
        writer.close()
    assert closed >= 40 - 4
    await amazon.close()


async def test_a_message_over_the_limits_closes_the_connection_and_nothing_of_it_is_done(
    world, run_daemon, account
):
    daemon = run_daemon()
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.amazon_port)
    leftover = await link_handshake(reader, writer, Role.AMAZON)
    checks = [
        au_pb2.AccountCheck(seqnum=seqnum, ups_account=account.number)
        for seqnum in range(1, AU_MAX_SUB_MESSAGES + 2)
    ]
    writer.write(encode_frame(au_pb2.AmazonToUps(account_checks=checks).SerializeToString()))
    received = leftover + await read_until_closed(reader)
    for body in frames_of(received):
        # UPS may have sent what it had queued (its WorldCreated), never an ack of these.
        assert not au_pb2.UpsToAmazon.FromString(body).acks
    writer.close()
    assert not await sync_to_async(IncomingMessage.objects.exists)()
    # A well-behaved Amazon is served as before.
    amazon = await AmazonPeer.open(daemon.amazon_port)
    assert await account_round_trip(amazon, account.number)
    await amazon.close()


async def test_the_link_runs_over_tls_and_a_plain_connection_gets_nowhere(
    world, run_daemon, account, settings, tmp_path
):
    authority = trustme.CA()
    certificate = authority.issue_cert("ups.test")
    cert_file, key_file = tmp_path / "ups.pem", tmp_path / "ups.key"
    certificate.cert_chain_pems[0].write_to_path(cert_file)
    certificate.private_key_pem.write_to_path(key_file)
    settings.AU_LINK_TLS_CERT, settings.AU_LINK_TLS_KEY = str(cert_file), str(key_file)
    daemon = run_daemon()

    client = ssl.create_default_context()
    authority.configure_trust(client)
    client.check_hostname = False  # the test reaches it as 127.0.0.1
    amazon = await AmazonPeer.open(daemon.amazon_port, tls=client)
    assert await account_round_trip(amazon, account.number)

    # Without TLS, a stranger cannot even start the handshake.
    reader, writer = await asyncio.open_connection("127.0.0.1", daemon.amazon_port)
    writer.write(LinkHandshake(Role.AMAZON, b"").start())
    await read_until_closed(reader)
    writer.close()
    await wait_for_refusals(1)
    state = await sync_to_async(LinkState.objects.get)(peer="amazon")
    assert "SSL" in state.last_refusal
    assert await account_round_trip(amazon, account.number + 1) is False
    await amazon.close()


def test_ups_refuses_to_listen_beyond_loopback_without_a_secret(settings):
    from amazon_ups.ups.dispatch.daemon import build_daemon

    settings.AU_LINK_SECRET = ""
    settings.AU_LINK_SECRET_FILE = ""
    with pytest.raises(ImproperlyConfigured, match="without a secret"):
        build_daemon("0.0.0.0", 0)
    settings.AU_LINK_SECRET = "short"
    with pytest.raises(ImproperlyConfigured, match="at least 16"):
        build_daemon("127.0.0.1", 0)
