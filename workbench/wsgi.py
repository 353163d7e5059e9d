import os

from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "workbench.settings")
application = get_wsgi_application()
# Import the URL patterns (and the views, selectors and analysis they pull in) now, not on the first request: under
# `gunicorn --preload` (scripts/start) the workers fork with them loaded, so the first page answers at once.
get_resolver().url_patterns  # noqa: B018
