"""What each of the store's requests costs in the web process, measured in-process: CPU
time and SQL statements per request, for a logged-in shopper (as store_web.py's), with no
server, no clients and no other process sharing the measure.

    .venv/bin/python benchmarks/store_requests.py [--database sqlite|postgres|both]
        [--iterations 200] [--products 2000] [--profile REQUEST]

A database is prepared as store_web.py prepares its own (demo catalog, ``--products`` more,
one shopper); then each request is sent ``--iterations`` times through Django's handler
(the test client, without the test environment's template instrumentation) with the
site's own middleware, CSRF checks on, and the connection's checks between requests a
server makes. Figures: CPU ms per request (process time; the
mean of the least disturbed round of 20, as other processes share the cores) and
statements per request. ``--profile`` prints cProfile's top functions of one request.
Run it against another tree (a baseline) with ``PYTHONPATH=<tree>/src``.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import pstats
import random
import re
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:  # run as a script: make ``benchmarks`` importable
    sys.path.insert(0, str(ROOT))

from benchmarks.store_web import WORDS, fresh_sites, prepare_database  # noqa: E402

TOKEN = re.compile(r'name="token" value="([^"]+)"')
BACKEND = "amazon_ups.amazon.cart.backends.ShopperBackend"
ROUND = 20


def measure(iterations: int, products: list[int], profile: str | None) -> dict[str, tuple]:
    """In the child: Django set up on the prepared database. Request name -> (CPU ms,
    statements) per request."""
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import close_old_connections, connection
    from django.db.models import F
    from django.test import Client

    from amazon_ups.amazon.catalog.models import Stock, Warehouse

    client = Client(HTTP_HOST="127.0.0.1", enforce_csrf_checks=True)
    client.force_login(get_user_model().objects.get(username="bench0"), backend=BACKEND)
    client.get("/")  # the CSRF cookie
    rng = random.Random(1)
    statements = [0]
    shown: list[list[str] | None] = [None]  # the SQL of the profiled request's first run

    def counted(execute, sql, params, many, context):
        statements[0] += 1
        if shown[0] is not None:
            shown[0].append(sql)
        return execute(sql, params, many, context)

    def csrf() -> str:
        return client.cookies["amazon_csrftoken"].value

    def post(path: str, data: dict):
        # As a browser's form posts it (the test client's default is multipart).
        return client.post(path, urlencode(data), content_type="application/x-www-form-urlencoded")

    def ok(response, status: int = 200):
        assert response.status_code == status, (response.status_code, response.content[:500])
        return response

    kept_product = products[0]
    order_pages: list[str] = []

    sales = [0]
    # A product a warehouse holds (stock comes from the world: the demo's seed has none).
    stocked = products[1]
    Stock.objects.update_or_create(
        warehouse=Warehouse.objects.order_by("id")[0], product_id=stocked, defaults={"on_hand": 50}
    )

    def product_page_after_a_sale() -> None:
        # A unit of the product taken off the shelf (what packing an order does,
        # catalog.services.reserve) or put back, in turn, between two visits of its page:
        # the page shows the stock as it is now. The UPDATE is in the figure.
        sales[0] += 1
        change = 1 if sales[0] % 2 else -1
        Stock.objects.filter(product_id=stocked).update(on_hand=F("on_hand") + change)
        ok(client.get(f"/products/{stocked}/"))

    def buy() -> None:
        data = {
            "csrfmiddlewaretoken": csrf(),
            "product": rng.choice(products),
            "quantity": 1,
            "token": uuid.uuid4().hex,
            "dest_x": rng.randint(-100, 100),
            "dest_y": rng.randint(-100, 100),
            "ups_account": "",
        }
        order_pages.append(ok(post("/orders/new/", data), 302).url)

    checkout_token: list[str] = []

    def checkout_form() -> None:
        page = ok(client.get("/cart/checkout/")).content.decode()
        checkout_token.append(TOKEN.search(page).group(1))  # type: ignore[union-attr]

    def add_to_cart() -> None:
        data = {"csrfmiddlewaretoken": csrf(), "product": rng.choice(products), "quantity": 1}
        ok(post("/cart/add/", data), 302)

    def place_from_cart() -> None:
        data = {
            "csrfmiddlewaretoken": csrf(),
            "token": checkout_token.pop(),
            "dest_x": 3,
            "dest_y": 4,
            "ups_account": "",
        }
        ok(post("/cart/checkout/", data), 302)

    requests = {
        "/healthz": lambda: ok(client.get("/healthz")),
        "search (kept)": lambda: ok(client.get("/", {"q": rng.choice(WORDS)})),
        "product page (kept)": lambda: ok(client.get(f"/products/{kept_product}/")),
        "product page (new each)": lambda: ok(client.get(f"/products/{products.pop()}/")),
        "product page (kept, a sale before each)": product_page_after_a_sale,
        "checkout: add to cart": add_to_cart,
        "checkout: form": checkout_form,
        "checkout: place order": place_from_cart,
        "Buy POST": buy,
        "order page": lambda: ok(client.get(order_pages.pop())),
    }
    # Run in checkout's order: each form or page the one before it made.
    plan = [
        ("/healthz",),
        ("search (kept)",),
        ("product page (kept)",),
        ("product page (new each)",),
        ("product page (kept, a sale before each)",),
        ("checkout: add to cart", "checkout: form", "checkout: place order"),
        ("Buy POST", "order page"),
    ]
    for group in plan:  # warm: templates loaded, fragments kept, connections open
        for _ in range(3):
            for name in group:
                requests[name]()
    results: dict[str, tuple] = {}
    with connection.execute_wrapper(counted):
        for group in plan:
            # The least disturbed round of ROUND requests counts: another process on the
            # machine's cores only ever adds to a request's CPU time (caches, a shared core).
            least = dict.fromkeys(group, float("inf"))
            count = dict.fromkeys(group, 0)
            for _ in range(max(1, iterations // ROUND)):
                cpu = dict.fromkeys(group, 0.0)
                for _ in range(min(ROUND, iterations)):
                    for name in group:
                        before_statements = statements[0]
                        began = time.process_time()
                        # What a server's request_started does (the test client skips it):
                        # a connection's health is checked again in the next request.
                        close_old_connections()
                        shown[0] = [] if name == profile and not profiles else None
                        if name == profile:
                            profiler = cProfile.Profile()
                            profiler.runcall(requests[name])
                            profiles.append(profiler)
                        else:
                            requests[name]()
                        cpu[name] += time.process_time() - began
                        count[name] += statements[0] - before_statements
                        if shown[0]:
                            print("\n".join(f"SQL: {sql[:300]}" for sql in shown[0]))
                for name in group:
                    least[name] = min(least[name], cpu[name] * 1000 / min(ROUND, iterations))
            rounds = max(1, iterations // ROUND) * min(ROUND, iterations)
            for name in group:
                results[name] = (least[name], count[name] / rounds)
    return results


profiles: list[cProfile.Profile] = []


def run(args, env: dict[str, str], label: str) -> None:
    sys.stderr.write(f"preparing the {label} database ({args.products} extra products)...\n")
    products = prepare_database(env, args.products, 1)
    child = subprocess.run(
        [sys.executable, __file__, "--child", "--iterations", str(args.iterations)]
        + (["--profile", args.profile] if args.profile else []),
        input=json.dumps(products),
        env={**env, "DJANGO_SETTINGS_MODULE": "amazon_ups.amazon.settings"},
        capture_output=True,
        text=True,
        check=False,
    )
    if child.returncode != 0:
        raise SystemExit(f"the measure failed:\n{child.stderr}")
    *profile_lines, last = child.stdout.strip().splitlines()
    results = json.loads(last)
    print(f"\n## {label}: {args.iterations} of each request, in-process")
    print("| request | CPU ms | statements |")
    print("|---|---|---|")
    for name, (cpu, count) in results.items():
        print(f"| {name} | {cpu:.2f} | {count:.1f} |")
    if profile_lines:
        print("\n".join(profile_lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", choices=["sqlite", "postgres", "both"], default="sqlite")
    parser.add_argument("--iterations", type=int, default=200)
    parser.add_argument("--products", type=int, default=2000)
    parser.add_argument("--profile", help="print the profile of this request")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        products = json.loads(sys.stdin.read())
        random.Random(2).shuffle(products)
        results = measure(args.iterations, products, args.profile)
        if profiles:
            stats = pstats.Stats(profiles[0])
            for profiler in profiles[1:]:
                stats.add(profiler)
            stats.sort_stats("cumulative").print_stats(45)
            stats.dump_stats(Path(tempfile.gettempdir()) / "store_requests.prof")
        print(json.dumps(results))
        return
    for env, label in fresh_sites(args.database, "store-requests-"):
        run(args, env, label)


if __name__ == "__main__":
    main()
