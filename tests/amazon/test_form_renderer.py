"""The form renderer (common/renderers.py): Django's widgets through its Jinja2 templates,
the same HTML as through the Django engine, and the admin's widgets still found."""

from __future__ import annotations

import re

import pytest
from django import forms
from django.forms.renderers import DjangoTemplates
from django.template import TemplateDoesNotExist
from django.template.backends.django import Template as DjangoTemplate
from django.template.backends.jinja2 import Template as JinjaTemplate

from amazon_ups.amazon.accounts.forms import AddressForm, ProfileForm, SignUpForm
from amazon_ups.amazon.cart.forms import AddToCartForm, CheckoutForm, UpdateCartForm
from amazon_ups.amazon.catalog.forms import CatalogQueryForm, ProductForm
from amazon_ups.amazon.fulfilment.forms import RestockForm
from amazon_ups.common.renderers import JinjaWidgets

# What a visitor may type into any field, shown back in the form: it must come out escaped.
HOSTILE = "\"><script>alert('x')</script>&amp; <b>"


class Address:
    def __init__(self, id: int, name: str) -> None:
        self.id, self.name, self.x, self.y = id, name, 3, -4


def forms_of_the_store() -> list[forms.BaseForm]:
    """The store's forms, blank and posted with bad and hostile values (errors shown)."""
    addresses = [Address(1, HOSTILE), Address(2, "home")]
    posted = {
        "token": HOSTILE,
        "dest_x": HOSTILE,
        "dest_y": "99999999999",
        "ups_account": "",
        "address": "2",
        "product": "7",
        "quantity": "0",
        "name": HOSTILE,
        "description": HOSTILE,
        "price": "-1",
        "x": "1",
        "y": "",
        "q": HOSTILE,
        "username": HOSTILE,
        "password1": "a",
        "password2": "b",
        "sort": HOSTILE,
        "available": "on",
        "warehouse": HOSTILE,
        "count": "1000000",
    }
    made: list[forms.BaseForm] = [
        CheckoutForm.fresh(None, addresses),
        CheckoutForm(posted, addresses=addresses),
    ]
    for plain in (
        AddToCartForm,
        UpdateCartForm,
        AddressForm,
        ProfileForm,
        SignUpForm,
        CatalogQueryForm,
        ProductForm,
        RestockForm,
    ):
        made += [plain(), plain(posted)]
    return made


def html_of(form: forms.BaseForm, renderer) -> list[str]:
    form.renderer = renderer
    parts = [str(form.non_field_errors())]
    for field in form:
        parts += [str(field), str(field.errors), field.label_tag()]
    # Jinja2's and Django's templates lay out a select's options on lines differently,
    # and escape quotes with other, equivalent, entities (MarkupSafe's against Django's).
    return [
        re.sub(r"\s+", " ", part)
        .replace("> <", "><")
        .replace("&#34;", "&quot;")
        .replace("&#39;", "&#x27;")
        .strip()
        for part in parts
    ]


@pytest.mark.django_db
def test_every_field_of_the_store_is_the_same_html_as_through_the_django_engine():
    for form in forms_of_the_store():
        if form.is_bound:
            form.is_valid()  # its errors, shown with its fields
        ours = html_of(form, JinjaWidgets())
        django = html_of(form, DjangoTemplates())
        assert ours == django, type(form).__name__
        assert "<script>" not in "".join(ours)


def test_the_builtin_widgets_come_from_jinja2_and_the_admins_from_the_django_engine():
    renderer = JinjaWidgets()
    for name in (
        "django/forms/widgets/input.html",
        "django/forms/widgets/select.html",
        "django/forms/errors/list/ul.html",
        "django/forms/label.html",
    ):
        assert isinstance(renderer.get_template(name), JinjaTemplate), name
    raw_id = "admin/widgets/foreign_key_raw_id.html"
    assert isinstance(renderer.get_template(raw_id), DjangoTemplate)
    # Asked again, each name comes from the renderer that had it.
    assert isinstance(renderer.get_template(raw_id), DjangoTemplate)
    assert isinstance(renderer.get_template("django/forms/label.html"), JinjaTemplate)
    with pytest.raises(TemplateDoesNotExist):
        renderer.get_template("no/such/template.html")
