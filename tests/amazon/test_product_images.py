"""Product pictures: a seller's upload is judged by its content and kept privately;
every product has a picture (one the store draws when the seller gave none)."""

from __future__ import annotations

import io
import re
import stat

import pytest
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from PIL import Image

from amazon_ups.amazon.accounts import services as accounts_services
from amazon_ups.amazon.catalog import images
from amazon_ups.amazon.catalog.models import Category, Product

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_DIR = tmp_path / "media-amazon"
    return settings.MEDIA_DIR


@pytest.fixture
def seller(db, django_user_model):
    accounts_services.seller_ensure("maker", "maker-password-1")
    user = django_user_model.objects.get(username="maker")
    Product.objects.create(id=1, name="Kettle", seller=user)
    return user


def picture(kind: str = "PNG", size: tuple[int, int] = (64, 48)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 120, 40)).save(out, kind)
    return out.getvalue()


def upload(client, data: bytes, name: str = "kettle.png", content_type: str = "image/png"):
    return client.post(
        reverse("sell:product_edit", args=[1]),
        {"name": "Kettle", "image": SimpleUploadedFile(name, data, content_type=content_type)},
    )


@pytest.mark.parametrize(
    ("kind", "content_type"),
    [("PNG", "image/png"), ("JPEG", "image/jpeg"), ("WEBP", "image/webp"), ("GIF", "image/gif")],
)
def test_an_upload_is_kept_privately_and_served_as_what_it_is(
    client, seller, media, kind, content_type
):
    client.force_login(seller)
    data = picture(kind)
    # The name and the type the browser claims do not matter: the content does.
    response = upload(client, data, name="photo.txt", content_type="text/plain")
    assert response.status_code == 302

    product = Product.objects.get(id=1)
    assert product.image_type == content_type
    [stored] = list(media.iterdir())
    assert stored.name == product.image_file and stored.name.startswith("product-1-")
    data = stored.read_bytes()
    with Image.open(stored) as kept:
        assert (kept.format, kept.size) == (kind, (64, 48))
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert stat.S_IMODE(media.stat().st_mode) == 0o700

    served = client.get(product.get_image_url())
    assert served.status_code == 200
    assert served["Content-Type"] == content_type
    assert served["X-Content-Type-Options"] == "nosniff"
    assert b"".join(served) == data
    # Shown on its pages with a URL that changes with each new picture.
    assert f'src="/products/1/image?v={product.image_file}"' in client.get("/").content.decode()


def test_what_the_camera_wrote_is_not_kept(client, seller, media):
    exif = Image.Exif()
    exif[0x010F] = "SellerCam"  # Make
    exif[0x8825] = {1: "N", 2: (47.0, 22.0, 1.0)}  # GPS: where the photo was taken
    out = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 120, 40)).save(out, "JPEG", exif=exif)
    assert b"SellerCam" in out.getvalue()

    client.force_login(seller)
    assert upload(client, out.getvalue(), name="photo.jpg").status_code == 302
    [stored] = list(media.iterdir())
    assert b"SellerCam" not in stored.read_bytes()
    with Image.open(stored) as kept:
        assert not kept.getexif() and kept.size == (64, 48)


def test_a_new_picture_replaces_the_old_file(
    client, seller, media, django_capture_on_commit_callbacks
):
    client.force_login(seller)
    upload(client, picture())
    first = Product.objects.get(id=1).image_file
    with django_capture_on_commit_callbacks(execute=True):
        upload(client, picture("JPEG"))
    second = Product.objects.get(id=1).image_file
    assert first != second
    assert [p.name for p in media.iterdir()] == [second]


@pytest.mark.parametrize(
    ("data", "name", "message"),
    [
        (b"just some text, not a picture", "notes.txt", "is not a picture the store can show"),
        # A text file renamed .png, claimed image/png: still not a picture.
        (b"#!/bin/sh\necho hello\n", "kettle.png", "is not a picture the store can show"),
        (
            b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>',
            "kettle.svg",
            "is not a picture the store can show",
        ),
        (picture()[:60], "cut.png", "is not a picture the store can show"),  # truncated
        (picture("BMP"), "kettle.bmp", "is not a picture the store can show"),
        (picture(size=(5000, 20)), "wide.png", "5000 x 20 pixels; at most 4000 on a side"),
        (picture(size=(8, 8)), "tiny.png", "8 x 8 pixels; at least 16 on a side"),
    ],
)
def test_bad_uploads_are_refused_next_to_the_field(client, seller, media, data, name, message):
    client.force_login(seller)
    response = upload(client, data, name=name)
    assert response.status_code == 400
    page = response.content.decode()
    assert message in page and 'class="field-errors" role="alert"' in page
    assert Product.objects.get(id=1).image_file == ""
    assert not media.exists() or not any(media.iterdir())


def test_an_upload_too_big_is_refused_before_it_is_read(client, seller, media):
    client.force_login(seller)
    data = picture() + b"\0" * images.MAX_BYTES  # a real PNG, padded past the limit
    response = upload(client, data)
    assert response.status_code == 400
    assert "at most 2 MB, please." in response.content.decode()
    assert Product.objects.get(id=1).image_file == ""


def test_a_decompression_bomb_is_refused():
    # Small on disk, enormous once decoded: Pillow's bomb guard trips before any pixel.
    out = io.BytesIO()
    Image.new("1", (20000, 20000)).save(out, "PNG")
    assert len(out.getvalue()) < images.MAX_BYTES
    with pytest.raises(ValidationError, match="not a picture the store can show"):
        images.check_upload(out.getvalue())


def test_only_the_seller_uploads(client, seller, shopper, django_user_model):
    accounts_services.seller_ensure("rival", "rival-password-1")
    client.force_login(django_user_model.objects.get(username="rival"))
    assert upload(client, picture()).status_code == 404
    client.force_login(shopper)
    assert upload(client, picture()).status_code == 403
    assert Product.objects.get(id=1).image_file == ""


def test_a_new_product_can_come_with_its_picture(client, seller, media):
    client.force_login(seller)
    response = client.post(
        reverse("sell:product_create"),
        {"name": "Toaster", "price": "19.99", "image": SimpleUploadedFile("t.png", picture())},
    )
    assert response.status_code == 302
    toaster = Product.objects.get(name="Toaster")
    assert toaster.image_type == "image/png" and (media / toaster.image_file).is_file()


def test_without_an_upload_the_store_draws_one_and_escapes_the_name(client, db):
    kitchen = Category.objects.create(name="Kitchen", slug="kitchen")
    Product.objects.create(id=7, name='<script>alert("x")</script> & co', category=kitchen)
    response = client.get("/products/7/image")
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"
    assert "sandbox" in response["Content-Security-Policy"]
    svg = b"".join(response).decode()
    assert svg.startswith('<svg xmlns="http://www.w3.org/2000/svg"')
    assert "<script>" not in svg and "&lt;script&gt;" in svg and "&amp; co" in svg
    assert ">&lt;</text>" in svg  # the initial

    # The same category draws the same colours.
    def colours(svg: bytes) -> list[bytes]:
        return re.findall(rb'fill="(#[0-9a-f]{6})"', svg)

    assert colours(images.drawn_svg("A", "kitchen")) == colours(images.drawn_svg("B", "kitchen"))


def test_a_stored_picture_gone_from_disk_falls_back_to_the_drawn_one(client, seller, media):
    client.force_login(seller)
    upload(client, picture())
    product = Product.objects.get(id=1)
    (media / product.image_file).unlink()
    response = client.get("/products/1/image")
    assert response.status_code == 200 and response["Content-Type"] == "image/svg+xml"


def test_the_image_of_an_unknown_product_is_a_404(client, db):
    assert client.get("/products/999/image").status_code == 404
    assert client.get("/products/99999999999999999999/image").status_code == 404
    assert client.get("/products/..%2f..%2fsecret-amazon/image").status_code == 404
    assert client.post("/products/1/image").status_code in (404, 405)


def test_a_name_from_the_database_never_leaves_the_media_folder(settings, media, tmp_path):
    (tmp_path / "secret").write_text("not for you")
    assert images.stored_path("../secret") is None
    assert images.stored_path("") is None
