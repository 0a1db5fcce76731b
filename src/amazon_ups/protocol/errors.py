"""The protocol layer's errors, split as h11 splits them: whose fault it is decides what
the caller does.

- `RemoteProtocolError`: the peer sent something the protocol does not allow. The peer
  is told (where the protocol has a way to) and, when the byte stream cannot be trusted
  any more, the connection is closed; our own state is untouched.
- `LocalProtocolError`: our code asked for something the protocol cannot do (a command
  of the other side's dialect, a negative frame length). It is a defect here, never the
  peer's, and nothing has been sent.
"""


class ProtocolError(Exception):
    """Any error of the protocol layer."""


class LocalProtocolError(ProtocolError):
    """Our side asked for something the protocol cannot do: a bug here."""


class RemoteProtocolError(ProtocolError):
    """The peer broke the protocol."""
