"""The state diagrams in ``docs/architecture.md``, drawn from the machines' tables.

``./dev regen`` (``python -m amazon_ups.diagrams``) rewrites them; a test fails when
the document and the tables drift apart. Importing the tables needs no Django setup:
they are plain enums and dicts.
"""

from __future__ import annotations

import sys
from pathlib import Path

from amazon_ups.amazon.orders.lifecycle import MACHINE as ORDER
from amazon_ups.common.statemachine import Machine, rewrite_docs
from amazon_ups.ups.shipments.package_lifecycle import MACHINE as PACKAGE
from amazon_ups.ups.shipments.truck_lifecycle import MACHINE as TRUCK

MACHINES: tuple[Machine, ...] = (ORDER, PACKAGE, TRUCK)
ARCHITECTURE = Path(__file__).resolve().parents[2] / "docs" / "architecture.md"


def main() -> int:
    changed = rewrite_docs(ARCHITECTURE, MACHINES)
    print(f"{'rewrote' if changed else 'unchanged:'} the state diagrams in {ARCHITECTURE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
