"""WSGI entry point (`gunicorn portal.wsgi`), for whoever serves the portal with WSGI. The
Procfile and docker-compose serve portal.asgi: agent long-polls then hold no thread."""

import os

from django.core.wsgi import get_wsgi_application

from portal.startup import settle

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
application = get_wsgi_application()
settle()
