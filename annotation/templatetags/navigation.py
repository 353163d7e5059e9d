"""The top navigation: each link names who may use it, so a role sees only pages it can use. To add a link,
add a NavLink to NAV_LINKS (and a capability to `_capabilities` if none fits)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django import template
from django.urls import reverse

from annotation.models import Membership

register = template.Library()

EVERYONE = "everyone"
RESEARCHER = "researcher"  # a researcher of some project, or an admin
STAFF = "staff"


@dataclass(frozen=True)
class NavLink:
    label: str
    url_name: str
    audience: str  # EVERYONE, RESEARCHER or STAFF


NAV_LINKS = (
    NavLink("Projects", "annotation:project_list", EVERYONE),
    NavLink("Reward models", "rewards:run_list", RESEARCHER),
    NavLink("Admin", "admin:index", STAFF),
    NavLink("API tokens", "account_tokens", EVERYONE),
)


def _capabilities(user: Any) -> set[str]:
    if not user.is_authenticated:
        return set()
    found = {EVERYONE}
    if user.is_staff:
        found.add(STAFF)
    # The same rule as rewards' researcher_projects: admins and researchers of a project train and read runs.
    if user.is_superuser or Membership.objects.filter(user=user, role=Membership.Role.RESEARCHER).exists():
        found.add(RESEARCHER)
    return found


@register.simple_tag(takes_context=True)
def nav_links(context: template.Context) -> list[dict[str, Any]]:
    """The links the request's user may use, each with `current` when the page lies under it."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None:
        return []
    allowed = _capabilities(user)
    links = []
    for link in NAV_LINKS:
        if link.audience in allowed:
            url = reverse(link.url_name)
            current = request.path == url if url == "/" else request.path.startswith(url)
            links.append({"label": link.label, "url": url, "current": current})
    return links
