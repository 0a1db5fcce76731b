"""WSGI entry point: ``gunicorn amazon_ups.ups.wsgi`` (or ``amazon-ups ups web``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "amazon_ups.ups.settings")
application = get_wsgi_application()
