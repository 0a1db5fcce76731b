"""WSGI entry point: ``gunicorn amazon_ups.amazon.wsgi`` (or ``amazon-ups amazon web``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "amazon_ups.amazon.settings")
application = get_wsgi_application()
