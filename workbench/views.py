"""Account pages: the user's API tokens (create, with the key shown once; revoke)."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods, require_POST

from workbench.exceptions import ApplicationError
from workbench.tokens import api_token_create, api_token_list, api_token_revoke


class TokenCreateForm(forms.Form):
    name = forms.CharField(
        max_length=100, help_text="What the token is for, e.g. 'labelling front end' or 'nightly export'."
    )


@require_http_methods(["GET", "POST"])
@login_required
def account_tokens(request: HttpRequest) -> HttpResponse:
    form = TokenCreateForm(request.POST if request.method == "POST" else None)
    new_key = None
    if request.method == "POST" and form.is_valid():
        try:
            created = api_token_create(user=request.user, name=form.cleaned_data["name"])
        except ApplicationError as error:
            form.add_error("name", error.message)
        else:
            # Shown in this response only: the page is not redirected, so a reload does not show it again.
            new_key = created.key
            form = TokenCreateForm()
    status = 400 if form.errors else 200
    context = {"form": form, "tokens": api_token_list(user=request.user), "new_key": new_key}
    response = render(request, "account/tokens.html", context, status=status)
    response["Cache-Control"] = "no-store"  # the page may carry a new key
    return response


@require_POST
@login_required
def account_token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = api_token_revoke(user=request.user, token_id=token_id)
    messages.success(request, f"Token {token.name!r} revoked; requests with it are now refused.")
    return redirect("account_tokens")
