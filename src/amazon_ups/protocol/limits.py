"""Ranges the wire formats allow: the world's coordinates are int32, package and
account ids int64. Forms and services check against these before anything is sent."""

INT32_MIN, INT32_MAX = -(2**31), 2**31 - 1
INT64_MAX = 2**63 - 1
