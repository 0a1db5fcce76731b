"""The operators' page (and its figures for Prometheus, ``metrics``): is each daemon's
link up and its peer heard from, counts by state and what waits much longer than usual
(each site's ``OPERATOR_DASHBOARD``), what waits for an ack, what was set aside (dead
letters) for an operator to retry, and what has waited past ``STUCK_AFTER`` (each
site's ``OPERATOR_STUCK``)."""

from __future__ import annotations

import secrets

from django.conf import settings
from django.contrib.admin.views.decorators import staff_member_required
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.module_loading import import_string
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from amazon_ups.common.mail import selectors as mail_selectors
from amazon_ups.common.mail.models import MAX_ATTEMPTS
from amazon_ups.common.messaging import selectors
from amazon_ups.common.messaging.metrics import database_registry


def _link(link, oldest_unacked, now) -> dict:
    health = selectors.link_health(link, oldest_unacked, now)
    return {
        "peer": link.peer,
        "connected": link.connected,
        "silent": health["silent"],
        "heard_at": health["heard_at"] and health["heard_at"].isoformat(),
        "quiet_seconds": health["quiet_seconds"],
        "detail": link.detail,
        "since": link.changed_at.isoformat(),
        "refused": link.refused,
        "last_refusal": link.last_refusal,
        "last_refusal_at": link.last_refusal_at and link.last_refusal_at.isoformat(),
    }


def _status() -> dict:
    now = timezone.now()
    unacked = selectors.unacked_by_peer()
    oldest = {row["peer"]: row["oldest"] for row in unacked}
    return {
        "links": [_link(link, oldest.get(link.peer), now) for link in selectors.link_states()],
        "daemons": selectors.daemon_processes(now),
        "dashboard": import_string(settings.OPERATOR_DASHBOARD)(),
        "unacked": [
            {
                "peer": row["peer"],
                "count": row["count"],
                "oldest_age_seconds": round((now - row["oldest"]).total_seconds(), 1),
            }
            for row in unacked
        ],
        "dead_letters": {
            "open": selectors.dead_letters_open_count(),
            "newest": [
                {
                    "id": letter.id,
                    "kind": letter.kind,
                    "subject": letter.subject,
                    "peer": letter.peer,
                    "field": letter.field,
                    "seqnum": letter.seqnum,
                    "ref": letter.ref,
                    "state": letter.state,
                    "state_label": letter.get_state_display(),
                    "error": f"{letter.error_type.rsplit('.', 1)[-1]}: {letter.error}"[:300],
                    "attempts": letter.attempts,
                    "age_seconds": round((now - letter.failed_at).total_seconds(), 1),
                }
                for letter in selectors.dead_letters_newest()
            ],
        },
        "stuck": import_string(settings.OPERATOR_STUCK)(),
        "emails_waiting": mail_selectors.waiting_count(),
        "emails_given_up": mail_selectors.given_up_count(),
        "settings": {setting.key: setting.value for setting in selectors.settings_all()},
    }


@staff_member_required
def operator_status(request):
    return render(
        request,
        "messaging/operator.html",
        {
            "status": _status(),
            "oldest": selectors.unacked_oldest(),
            "emails": mail_selectors.waiting(),
            "max_attempts": MAX_ATTEMPTS,
            "stuck_after": settings.STUCK_AFTER,
        },
    )


@staff_member_required
def operator_status_json(request):
    return JsonResponse(_status())


def _may_scrape(request) -> bool:
    """Staff, or a scraper that sends the site's ``METRICS_TOKEN`` as a bearer token."""
    if request.user.is_active and request.user.is_staff:
        return True
    token = settings.METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    return bool(token) and secrets.compare_digest(given.encode(), f"Bearer {token}".encode())


def metrics(request):
    """The operators' figures in Prometheus' text format (``messaging/metrics.py``)."""
    if not _may_scrape(request):
        response = HttpResponse("Staff, or a bearer token (METRICS_TOKEN), only.\n", status=401)
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(generate_latest(database_registry()), content_type=CONTENT_TYPE_LATEST)
