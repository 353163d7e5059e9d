"""`load_demo` runs at every `scripts/start`: it must create the demo users once and never reset a password that
was changed afterwards (it used to set the demo password again on every run)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

pytestmark = pytest.mark.django_db


def test_load_demo_keeps_changed_passwords(settings, tmp_path) -> None:
    settings.DATA_DIR = tmp_path
    settings.WORKBENCH_ADMIN_PASSWORD = "demo-password-1"
    first = StringIO()
    call_command("load_demo", stdout=first)
    assert "Log in as admin / demo-password-1" in first.getvalue()  # scripts/start greps "Log in as"
    User = get_user_model()
    admin = User.objects.get(username="admin")
    assert admin.is_superuser and admin.check_password("demo-password-1")
    for name in ("admin", "annotator"):
        user = User.objects.get(username=name)
        user.set_password(f"changed-{name}-secret")
        user.save()
    researcher = User.objects.get(username="researcher")
    researcher.is_active = False  # an operator disabled a demo account
    researcher.save()

    again = StringIO()
    call_command("load_demo", stdout=again)
    for name in ("admin", "annotator"):
        user = User.objects.get(username=name)
        assert user.check_password(f"changed-{name}-secret"), name
        assert not user.check_password("demo-password-1"), name
    assert not User.objects.get(username="researcher").is_active
    assert "Log in as admin, researcher, annotator with their current passwords" in again.getvalue()
    assert "demo-password-1" not in again.getvalue()
    # A user deleted meanwhile is created again, with the demo password.
    User.objects.get(username="annotator").delete()
    third = StringIO()
    call_command("load_demo", stdout=third)
    assert User.objects.get(username="annotator").check_password("demo-password-1")
    assert "Log in as annotator / demo-password-1" in third.getvalue()
