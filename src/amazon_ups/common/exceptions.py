"""The services' errors, split by whose fault they are, as the protocol's are
(``protocol/errors.py``). Each app keeps its own in its ``exceptions.py``.

- ``Refusal``: someone asked for what the rules do not allow: the other company (UPS
  refuses a pickup request), a shopper (not enough stock left), a seller (a restock the
  world cannot take). Nothing changed; whoever asked is told why. It is an answer, not
  a failure: never a dead letter.
- ``Defect``: our own code did what must not happen (a move a state machine's table
  does not allow). A daemon sets the message or work item that hit it aside as a dead
  letter for an operator (``common/daemon/isolation.py``).
"""


class ServiceError(Exception):
    """Any error a service raises on purpose."""


class Refusal(ServiceError):
    """Asked for what the rules do not allow: nothing changed, the asker is told why."""


class Defect(ServiceError):
    """Our own code did what must not happen."""


class RefusedAfterWriting(Defect):
    """A service refused after it had written something: a refusal must come before any
    write (it changes nothing), since the daemons act on it without a savepoint."""


class AlreadyRunning(Exception):
    """A daemon of this side already runs against this database: a second one would send
    every message twice, so it refuses to start (``common/daemon/sole.py``)."""
