from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import ValidationError
from django.http import Http404, JsonResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from amazon_ups.amazon.accounts import selectors, services
from amazon_ups.amazon.accounts.forms import (
    AddressForm,
    ProfileForm,
    SignUpForm,
    UpsAccountForm,
)
from amazon_ups.amazon.carrier import selectors as carrier_selectors


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
        # The site's own backend: the last one, after the login throttling's.
        login(request, user, backend=settings.AUTHENTICATION_BACKENDS[-1])
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
    if request.method == "POST":
        form = ProfileForm(request.POST)
        if form.is_valid():
            services.profile_update(request.user, **form.cleaned_data)
            messages.success(request, "Your profile is saved.")
            return redirect("profile")
        return _profile_page(request, form=form, status=400)
    return _profile_page(request)


def _profile_page(request, form=None, address_form=None, status: int = 200):
    current = selectors.profile_of(request.user)
    if form is None:
        initial = {}
        if current is not None:
            initial = {
                "default_x": current.default_x,
                "default_y": current.default_y,
                "ups_account": current.ups_account,
            }
        form = ProfileForm(initial=initial)
    account_state = None
    if current is not None and current.ups_account is not None:
        account_state = carrier_selectors.ups_account_state(current.ups_account)
    context = {
        "form": form,
        "profile": current,
        "account_state": account_state,
        "addresses": selectors.addresses_of(request.user),
        "address_form": address_form or AddressForm(auto_id="address_%s"),
    }
    return render(request, "accounts/profile.html", context, status=status)


@login_required
@require_POST
def address_add(request):
    form = AddressForm(request.POST, auto_id="address_%s")
    if form.is_valid():
        try:
            address = services.address_save(request.user, **form.cleaned_data)
        except ValidationError as error:
            form.add_error(None, error)
        else:
            messages.success(request, f"Address “{address.name}” is saved.")
            return redirect("profile")
    return _profile_page(request, address_form=form, status=400)


@login_required
@require_POST
def address_delete(request, address_id: int):
    if not services.address_delete(request.user, address_id):
        raise Http404("No such address.")
    messages.success(request, "The address is deleted.")
    return redirect("profile")


def _account_json(state) -> dict:
    return {"number": state.number, "state": state.state, "text": state.text}


@login_required
@require_POST
def ups_account_check(request):
    """Checkout asks whether UPS knows the account being typed; the answer comes over
    the Amazon-UPS link later, so the page then polls ``ups_account_status``."""
    form = UpsAccountForm(request.POST)
    if not form.is_valid():
        return JsonResponse({"error": form.errors["number"][0]}, status=400)
    return JsonResponse(_account_json(services.ups_account_ask(form.cleaned_data["number"])))


@login_required
@require_GET
def ups_account_status(request):
    form = UpsAccountForm(request.GET)
    if not form.is_valid():
        return JsonResponse({"error": form.errors["number"][0]}, status=400)
    state = carrier_selectors.ups_account_state(form.cleaned_data["number"])
    return JsonResponse(_account_json(state))
