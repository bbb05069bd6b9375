"""/favicon.ico: browsers ask for it on every page that names no icon of its own (the API's
JSON, a PDF, the admin), so it answers with the icon the pages link instead of a 404 line in
the log for each of them."""

from django.shortcuts import redirect
from django.templatetags.static import static
from django.views.decorators.cache import cache_control
from django.views.decorators.http import require_GET


@require_GET
@cache_control(max_age=86400, public=True)
def favicon(request):
    return redirect(static("latchkey/favicon.svg"), permanent=True)
