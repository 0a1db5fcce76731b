"""Ranges the wire formats allow: the world's coordinates are int32, package and
account ids int64. Forms and services check against these before anything is sent."""

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MAX = 2**63 - 1

# What one message of the Amazon-UPS link may carry (docs/amazon-ups-protocol.md, 2.3).
# A sender with more splits it over several messages; a receiver closes a connection
# whose peer sends more, so one peer cannot make the other parse megabytes at once.
AU_MAX_FRAME = 1024 * 1024
AU_MAX_SUB_MESSAGES = 1000
AU_MAX_ACKS = 10_000
