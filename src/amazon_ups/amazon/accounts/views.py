from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from amazon_ups.amazon.accounts import selectors, services
from amazon_ups.amazon.accounts.forms import ProfileForm, SignUpForm
from amazon_ups.amazon.fulfilment import selectors as fulfilment_selectors


def _safe_next(request) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return "/"


@require_http_methods(["GET", "POST"])
def sign_up(request):
    if request.user.is_authenticated:
        return redirect(_safe_next(request))
    form = SignUpForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        user = services.user_sign_up(
            username=data["username"],
            email=data["email"],
            password=data["password1"],
            is_seller=data["is_seller"],
        )
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        messages.success(request, f"Welcome, {user.username}: your account is ready.")
        if data["is_seller"]:
            return redirect("sell:home")
        return redirect(_safe_next(request))
    status = 400 if form.is_bound else 200
    context = {"form": form, "next": request.POST.get("next") or request.GET.get("next", "")}
    return render(request, "accounts/sign_up.html", context, status=status)


@login_required
@require_http_methods(["GET", "POST"])
def profile(request):
    current = selectors.profile_of(request.user)
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            services.profile_update(request.user, **form.cleaned_data)
            messages.success(request, "Your profile is saved.")
            return redirect("profile")
        status = 400
    else:
        initial = {}
        if current is not None:
            initial = {
                "default_x": current.default_x,
                "default_y": current.default_y,
                "ups_account": current.ups_account,
            }
        form = ProfileForm(initial=initial)
        status = 200
    account_state = None
    if current is not None and current.ups_account is not None:
        account_state = fulfilment_selectors.ups_account_state(current.ups_account)
    context = {"form": form, "profile": current, "account_state": account_state}
    return render(request, "accounts/profile.html", context, status=status)
