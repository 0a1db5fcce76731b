"""Durable messaging: what a daemon owes its peers and what it has received from them.

An outgoing message is a row written in the same transaction as the state
change that causes it; the daemon re-sends it until the peer acks its seqnum.
An incoming message is a row (peer, seqnum) written in the same transaction as
its effect, so a repeat is only acked. Seqnum counters are rows too, so they
survive restarts.
"""
