"""Regenerates the reference assistant's example images (deterministic).

    .venv/bin/python bench/make_images.py [--root data/media]

Training images go to ``images/``; held-out images (other photos, other box drawings, other error
codes and layouts) go to ``heldout/images/`` and must never be used in training data, so the
held-out evaluation measures generalisation, not memory.

Photos of parcels are drawn with Pillow (a cardboard box, torn or dented); "wrong item" photos
are scikit-image's bundled BSD photos; screenshots are drawn with Pillow's bundled font, so OCR
reads the same on every machine; Chinese screenshots (held-out, ``zh_*.png``) are drawn in Noto Sans
CJK (Debian ``fonts-noto-cjk``, installed by scripts/setup), which RapidOCR reads. Every file is at
most 320 px and at most 20 KB.
Variants are composed deterministically: a box layer drawn with several kinds of damage, then
rotated, scaled, tinted and placed on different backgrounds; photos cropped, rotated and colour
shifted; screenshots in light and dark layouts with different codes and order numbers.
"""

import argparse
import io
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import numpy as np
import skimage.data
from PIL import Image, ImageDraw, ImageFilter, ImageFont

MAX_SIDE = 320
MAX_BYTES = 20_000
JPEG_QUALITY = 75
DEFAULT_ROOT = Path(__file__).resolve().parents[1] / "data" / "media"

Color = Tuple[int, int, int]


CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")  # Debian fonts-noto-cjk


def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def _cjk_font(size: int) -> ImageFont.FreeTypeFont:
    """Noto Sans CJK (Simplified Chinese face of the collection): Pillow's bundled font has no Han."""
    if not CJK_FONT.exists():
        raise SystemExit(f"{CJK_FONT} is missing: apt-get install fonts-noto-cjk (scripts/setup installs it).")
    return ImageFont.truetype(str(CJK_FONT), size, index=2)  # 0 JP, 1 KR, 2 SC, 3 TC, 4 HK


def _noise(image: Image.Image, seed: int, amount: float) -> Image.Image:
    """Adds fixed-seed grain so drawn photos look less flat (and are still reproducible)."""
    rng = np.random.default_rng(seed)
    array = np.asarray(image, dtype=np.float32)
    array += rng.normal(0.0, amount, array.shape[:2])[..., None]
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def _floor(size: Tuple[int, int]) -> Image.Image:
    """A doorstep: warm grey boards, lighter towards the top."""
    width, height = size
    shade = np.linspace(185, 120, height, dtype=np.float32)[:, None]
    array = np.repeat(np.repeat(shade, width, axis=1)[..., None], 3, axis=2)
    array *= np.array([1.0, 0.96, 0.9], dtype=np.float32)
    for x in range(0, width, 46):
        array[:, x : x + 2] *= 0.8
    return Image.fromarray(array.clip(0, 255).astype(np.uint8))


def _box(draw: ImageDraw.ImageDraw) -> Dict[str, List[Tuple[int, int]]]:
    """A cardboard box in perspective; returns its faces for further damage."""
    front = [(70, 110), (220, 110), (220, 215), (70, 215)]
    top = [(70, 110), (120, 72), (270, 72), (220, 110)]
    side = [(220, 110), (270, 72), (270, 175), (220, 215)]
    draw.polygon(front, fill=(176, 128, 78))
    draw.polygon(top, fill=(201, 153, 100))
    draw.polygon(side, fill=(146, 103, 60))
    draw.polygon([(135, 110), (155, 110), (205, 72), (185, 72)], fill=(214, 196, 150))  # tape
    draw.rectangle([135, 110, 155, 215], fill=(205, 186, 140))
    draw.rectangle([82, 160, 128, 200], fill=(242, 242, 236))  # shipping label
    for y in range(166, 198, 7):
        draw.line([(86, y), (124, y)], fill=(90, 90, 90), width=2)
    return {"front": front, "top": top, "side": side}


def torn_parcel() -> Image.Image:
    """A box with a torn front and a crushed top corner."""
    image = _floor((MAX_SIDE, 240))
    draw = ImageDraw.Draw(image)
    _box(draw)
    rng = np.random.default_rng(11)
    tear = [(160 + int(28 * np.cos(a)) + int(rng.integers(-9, 9)),
             160 + int(22 * np.sin(a)) + int(rng.integers(-9, 9)))
            for a in np.linspace(0, 2 * np.pi, 18, endpoint=False)]
    draw.polygon(tear, fill=(58, 38, 22), outline=(222, 200, 160))
    draw.line([(150, 150), (176, 174)], fill=(230, 220, 200), width=2)  # torn flap edge
    draw.polygon([(220, 110), (270, 72), (258, 100), (236, 118)], fill=(92, 64, 36))  # crushed
    draw.line([(236, 118), (258, 100)], fill=(60, 40, 20), width=3)
    return _noise(image.filter(ImageFilter.SMOOTH), 1, 5.0)


def dented_parcel() -> Image.Image:
    """A box with a deep dent in the side and a water stain."""
    image = _floor((MAX_SIDE, 240))
    draw = ImageDraw.Draw(image)
    _box(draw)
    draw.polygon([(226, 130), (262, 102), (250, 150), (230, 176)], fill=(104, 72, 40))  # dent
    draw.line([(226, 130), (250, 150)], fill=(70, 48, 26), width=3)
    draw.line([(250, 150), (230, 176)], fill=(188, 140, 90), width=2)
    stain = Image.new("L", image.size, 0)
    ImageDraw.Draw(stain).ellipse([160, 120, 214, 168], fill=120)
    dark = Image.new("RGB", image.size, (96, 66, 36))
    image = Image.composite(dark, image, stain.filter(ImageFilter.GaussianBlur(6)))
    return _noise(image.filter(ImageFilter.SMOOTH), 2, 5.0)


def _photo(name: str, box: Tuple[float, float, float, float] = (0, 0, 1, 1)) -> Image.Image:
    """A scikit-image photo, cropped to ``box`` (fractions) and scaled to fit MAX_SIDE."""
    array = getattr(skimage.data, name)()
    if isinstance(array, tuple):  # stereo pairs: the left view
        array = array[0]
    image = Image.fromarray(np.asarray(array)).convert("RGB")
    w, h = image.size
    image = image.crop((int(box[0] * w), int(box[1] * h), int(box[2] * w), int(box[3] * h)))
    image.thumbnail((MAX_SIDE, MAX_SIDE))
    return image


def _screen(lines: Sequence[Tuple[str, int, Color]], banner: str, banner_color: Color) -> Image.Image:
    """A phone-width app screen: coloured banner, then lines of (text, size, colour)."""
    height = 62 + sum(size + 18 for _, size, _ in lines) + 16
    image = Image.new("RGB", (MAX_SIDE, height), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, MAX_SIDE, 44], fill=banner_color)
    draw.text((12, 10), banner, font=_font(22), fill="white")
    y = 60
    for text, size, color in lines:
        draw.text((12, y), text, font=_font(size), fill=color)
        y += size + 18
    return image


def payment_error(code: str, order: str, reason: str) -> Callable[[], Image.Image]:
    """A "payment declined" screen with an error code and an order number."""

    def make() -> Image.Image:
        return _screen(
            [
                (reason, 18, (40, 40, 40)),
                (f"Error code {code}", 22, (170, 20, 20)),
                (f"Order number {order}", 18, (40, 40, 40)),
            ],
            "Payment declined",
            (200, 40, 40),
        )

    return make


def delivered_status() -> Image.Image:
    """Tracking page saying the order was delivered (the customer says it was not)."""
    return _screen(
        [
            ("Order number 12345", 20, (40, 40, 40)),
            ("Status: Delivered", 22, (20, 120, 40)),
            ("Left at front door 14:32", 18, (90, 90, 90)),
        ],
        "Track your parcel",
        (40, 90, 170),
    )


# file name -> (maker, what the assistant should make of it)
IMAGES: Dict[str, Tuple[Callable[[], Image.Image], str]] = {
    "damaged_parcel_torn.jpg": (torn_parcel, "parcel arrived torn open, corner crushed"),
    "damaged_parcel_dented.jpg": (dented_parcel, "parcel dented and water-stained"),
    "wrong_item_cat.jpg": (lambda: _photo("chelsea"), "a cat picture instead of the ordered mug"),
    "wrong_item_rocket.jpg": (lambda: _photo("rocket", (0, 0.1, 1, 0.9)), "a rocket model instead of the ordered item"),
    "ordered_item_coffee_cup.jpg": (lambda: _photo("coffee"), "the coffee cup the customer ordered"),
    "payment_error_e4021.png": (
        payment_error("E-4021", "12345", "Your card was declined."),
        "payment declined screenshot, error E-4021, order 12345",
    ),
    "payment_error_e5103.png": (
        payment_error("E-5103", "67890", "Your card has expired."),
        "card expired screenshot, error E-5103, order 67890",
    ),
    "order_delivered_12345.png": (delivered_status, "tracking says delivered, order 12345"),
}


# --- composed variants ---------------------------------------------------------------------------

DAMAGES = ("tear", "dent", "crush", "stain", "hole", "ripped_tape")


def _background(kind: str, size: Tuple[int, int], seed: int) -> Image.Image:
    """Where the parcel stands: doorstep boards, a doormat or a kitchen table."""
    width, height = size
    if kind == "floor":
        return _floor(size)
    rng = np.random.default_rng(seed)
    if kind == "mat":
        base = np.array([62, 70, 58], dtype=np.float32)
        array = base + rng.normal(0, 14, (height, width, 1)).astype(np.float32)
        array[::6] *= 0.85  # woven rows
    elif kind == "table":
        grain = np.sin(np.linspace(0, 40, width, dtype=np.float32))[None, :] * 8
        array = (np.array([214, 190, 150], dtype=np.float32)[None, None] + grain[..., None]
                 + rng.normal(0, 3, (height, width, 1)).astype(np.float32))
    else:
        raise ValueError(f"unknown background {kind!r}")
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))


def _damage(layer: Image.Image, kinds: Sequence[str], seed: int) -> None:
    """Draws the named kinds of damage onto a box layer drawn by ``_box``."""
    draw = ImageDraw.Draw(layer)
    rng = np.random.default_rng(seed)
    for kind in kinds:
        if kind == "tear":
            cx, cy = 120 + int(rng.integers(0, 60)), 140 + int(rng.integers(0, 40))
            tear = [(cx + int(26 * np.cos(a)) + int(rng.integers(-9, 9)),
                     cy + int(20 * np.sin(a)) + int(rng.integers(-9, 9)))
                    for a in np.linspace(0, 2 * np.pi, 16, endpoint=False)]
            draw.polygon(tear, fill=(58, 38, 22, 255), outline=(222, 200, 160, 255))
            draw.line([(cx - 12, cy - 10), (cx + 14, cy + 12)], fill=(230, 220, 200, 255), width=2)
        elif kind == "dent":
            draw.polygon([(226, 130), (262, 102), (250, 150), (230, 176)], fill=(104, 72, 40, 255))
            draw.line([(226, 130), (250, 150)], fill=(70, 48, 26, 255), width=3)
        elif kind == "crush":
            draw.polygon([(70, 110), (120, 72), (128, 96), (92, 124)], fill=(92, 64, 36, 255))
            draw.line([(92, 124), (128, 96)], fill=(60, 40, 20, 255), width=3)
            draw.line([(70, 150), (100, 170), (70, 190)], fill=(110, 78, 44, 255), width=3)
        elif kind == "stain":
            x, y = 90 + int(rng.integers(0, 80)), 120 + int(rng.integers(0, 40))
            stain = Image.new("RGBA", layer.size, (0, 0, 0, 0))
            ImageDraw.Draw(stain).ellipse([x, y, x + 56, y + 44], fill=(80, 52, 26, 150))
            stain = stain.filter(ImageFilter.GaussianBlur(5))
            alpha = layer.getchannel("A")
            merged = Image.alpha_composite(layer, stain)
            merged.putalpha(alpha)  # the stain stays on the box
            layer.paste(merged)
        elif kind == "hole":
            x, y = 170 + int(rng.integers(0, 30)), 130 + int(rng.integers(0, 50))
            draw.ellipse([x, y, x + 30, y + 24], fill=(30, 20, 12, 255), outline=(200, 170, 120, 255), width=2)
        elif kind == "ripped_tape":
            draw.rectangle([135, 110, 155, 215], fill=(150, 106, 62, 255))
            for y in range(112, 214, 12):
                draw.line([(136, y), (154, y + 5)], fill=(225, 205, 160, 255), width=2)
        else:
            raise ValueError(f"unknown damage {kind!r}")


def parcel(
    damages: Sequence[str],
    background: str = "floor",
    angle: float = 0.0,
    scale: float = 1.0,
    offset: Tuple[int, int] = (0, 0),
    tint: Tuple[float, float, float] = (1.0, 1.0, 1.0),
    seed: int = 0,
) -> Callable[[], Image.Image]:
    """A damaged cardboard box composed on a background, rotated, scaled and tinted."""

    def make() -> Image.Image:
        size = (MAX_SIDE, 240)
        layer = Image.new("RGBA", size, (0, 0, 0, 0))
        _box(ImageDraw.Draw(layer))
        _damage(layer, damages, seed)
        r, g, b, a = layer.split()
        r, g, b = (band.point(lambda v, f=f: min(255, int(v * f))) for band, f in zip((r, g, b), tint))
        layer = Image.merge("RGBA", (r, g, b, a)).rotate(angle, resample=Image.BICUBIC, expand=False)
        if scale != 1.0:
            layer = layer.resize((int(size[0] * scale), int(size[1] * scale)), Image.BICUBIC)
        image = _background(background, size, seed).convert("RGBA")
        x = (size[0] - layer.size[0]) // 2 + offset[0]
        y = (size[1] - layer.size[1]) // 2 + offset[1]
        image.paste(layer, (x, y), layer)
        return _noise(image.convert("RGB").filter(ImageFilter.SMOOTH), seed + 100, 5.0)

    return make


def photo_variant(
    name: str,
    box: Tuple[float, float, float, float] = (0, 0, 1, 1),
    angle: float = 0.0,
    tint: Tuple[float, float, float] = (1.0, 1.0, 1.0),
    mirror: bool = False,
) -> Callable[[], Image.Image]:
    """A scikit-image photo cropped, rotated (filled by edge colour), mirrored and colour shifted."""

    def make() -> Image.Image:
        image = _photo(name, box)
        if mirror:
            image = image.transpose(Image.FLIP_LEFT_RIGHT)
        if angle:
            fill = tuple(int(v) for v in np.asarray(image).reshape(-1, 3).mean(axis=0))
            image = image.rotate(angle, resample=Image.BICUBIC, fillcolor=fill)
        array = np.asarray(image, dtype=np.float32) * np.array(tint, dtype=np.float32)
        return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))

    return make


def screen(
    banner: str,
    banner_color: Color,
    lines: Sequence[Tuple[str, int, Color]],
    dark: bool = False,
    button: str = "",
    font: Callable[[int], ImageFont.FreeTypeFont] = _font,
) -> Callable[[], Image.Image]:
    """A phone screen (light or dark theme) with a banner, text lines and an optional button."""

    def make() -> Image.Image:
        height = 62 + sum(size + 18 for _, size, _ in lines) + (52 if button else 16)
        background = (28, 28, 32) if dark else (250, 250, 250)
        image = Image.new("RGB", (MAX_SIDE, height), background)
        draw = ImageDraw.Draw(image)
        draw.rectangle([0, 0, MAX_SIDE, 44], fill=banner_color)
        draw.text((12, 10) if font is _font else (12, 6), banner, font=font(22), fill="white")
        y = 60
        for text, size, color in lines:
            if dark:
                color = tuple(255 - c // 2 if sum(color) < 200 else c for c in color)
            draw.text((12, y), text, font=font(size), fill=color)
            y += size + 18
        if button:
            draw.rounded_rectangle([12, y, 160, y + 34], radius=8, fill=banner_color)
            draw.text((24, y + 7) if font is _font else (24, y + 3), button, font=font(18), fill="white")
        return image

    return make


RED, DARK_RED, GREY, BLUE, GREEN = (200, 40, 40), (170, 20, 20), (40, 40, 40), (40, 90, 170), (20, 120, 40)

TRAINING_VARIANTS: Dict[str, Tuple[Callable[[], Image.Image], str]] = {
    # damaged parcels
    "damaged_parcel_tear_mat.jpg": (parcel(["tear", "stain"], "mat", 8, 0.9, (0, 6), seed=21), "torn, stained box on a doormat"),
    "damaged_parcel_crush_table.jpg": (parcel(["crush", "ripped_tape"], "table", -6, 1.0, seed=22), "crushed corner, ripped tape"),
    "damaged_parcel_hole_floor.jpg": (parcel(["hole", "dent"], "floor", 4, 0.8, (-20, 10), (1.1, 1.0, 0.9), seed=23), "hole and dent"),
    "damaged_parcel_dent_mat.jpg": (parcel(["dent", "crush"], "mat", -10, 0.95, (10, 0), (0.9, 0.9, 0.85), seed=24), "dented and crushed"),
    "damaged_parcel_stain_table.jpg": (parcel(["stain", "tear"], "table", 12, 0.85, (15, 5), (1.05, 0.95, 0.85), seed=25), "water damage and a tear"),
    "damaged_parcel_torn_rotated.jpg": (parcel(["tear", "crush", "hole"], "floor", -14, 0.9, seed=26), "badly torn box, rotated"),
    # wrong items: other things than what was ordered
    "wrong_item_cat_crop.jpg": (photo_variant("chelsea", (0.15, 0.0, 0.85, 1.0), angle=6), "cat photo, cropped and rotated"),
    "wrong_item_rocket_warm.jpg": (photo_variant("rocket", (0.2, 0.0, 0.9, 1.0), tint=(1.1, 1.0, 0.85)), "rocket, warm colours"),
    "wrong_item_motorcycle.jpg": (photo_variant("stereo_motorcycle"), "a toy motorcycle"),
    "wrong_item_motorcycle_crop.jpg": (photo_variant("stereo_motorcycle", (0.3, 0.2, 0.9, 0.9), mirror=True), "motorcycle, cropped, mirrored"),
    "wrong_item_clock.jpg": (photo_variant("clock", angle=-5), "a wall clock"),
    "wrong_item_camera.jpg": (photo_variant("camera", (0.1, 0.0, 0.9, 0.8)), "a camera tripod photo"),
    # payment error screenshots
    "payment_error_e2210.png": (screen("Payment failed", RED, [("Insufficient funds.", 18, GREY), ("Error code E-2210", 22, DARK_RED), ("Order number 34567", 18, GREY)]), "insufficient funds, E-2210"),
    "payment_error_e3307_dark.png": (screen("Transaction error", (150, 30, 60), [("Card authentication failed.", 18, GREY), ("Code: E-3307", 22, DARK_RED)], dark=True, button="Try again"), "3-D Secure failed, E-3307, dark"),
    "payment_error_e4021_checkout.png": (screen("Checkout", (90, 90, 90), [("Something went wrong", 20, GREY), ("E-4021 card declined by bank", 18, DARK_RED), ("Total 59.90 EUR", 18, GREY)], button="Retry"), "checkout error E-4021"),
    "payment_error_e5103_dark.png": (screen("Payment declined", RED, [("Your card has expired.", 18, GREY), ("Error code E-5103", 22, DARK_RED)], dark=True), "expired card E-5103, dark"),
    # order screenshots
    "order_confirmed_34567.png": (screen("Order confirmed", GREEN, [("Thank you for your order!", 18, GREY), ("Order number 34567", 20, GREY), ("Estimated delivery: 3-5 days", 18, GREY)]), "order confirmation 34567"),
    "order_shipped_78901.png": (screen("Your order is on its way", BLUE, [("Order 78901", 20, GREY), ("Carrier: DHL", 18, GREY), ("Status: Shipped", 22, GREEN)], button="Track"), "shipped 78901"),
    "order_processing_90123_dark.png": (screen("My orders", (60, 60, 120), [("Order number 90123", 20, GREY), ("Status: Processing", 22, (200, 140, 20))], dark=True), "processing 90123, dark"),
}

HELDOUT: Dict[str, Tuple[Callable[[], Image.Image], str]] = {
    "damaged_parcel_a.jpg": (parcel(["tear", "hole"], "table", -3, 0.9, (-10, 0), (0.95, 0.9, 0.8), seed=41), "held-out: torn, hole, table"),
    "damaged_parcel_b.jpg": (parcel(["crush", "stain"], "floor", 16, 0.85, (5, 8), (1.1, 1.05, 0.95), seed=42), "held-out: crushed, stained"),
    "damaged_parcel_c.jpg": (parcel(["dent", "ripped_tape", "tear"], "mat", 3, 1.0, seed=43), "held-out: dent, ripped tape"),
    "damaged_parcel_d.jpg": (parcel(["hole", "crush"], "mat", -18, 0.8, (12, 4), (1.0, 0.95, 0.9), seed=44), "held-out: hole, crushed, rotated"),
    "wrong_item_astronaut.jpg": (photo_variant("astronaut", (0.1, 0.0, 0.9, 0.8)), "held-out: astronaut photo"),
    "wrong_item_coffee.jpg": (photo_variant("coffee", (0.1, 0.0, 0.8, 1.0), angle=4), "held-out: coffee cup"),
    "wrong_item_coins.jpg": (photo_variant("coins", tint=(1.0, 0.95, 0.8)), "held-out: coins"),
    "wrong_item_astronaut_crop.jpg": (photo_variant("astronaut", (0.4, 0.3, 1.0, 1.0), mirror=True), "held-out: astronaut, suit detail"),
    "payment_error_e6002.png": (screen("Payment unavailable", RED, [("The payment provider is not responding.", 16, GREY), ("Error code E-6002", 22, DARK_RED), ("Order number 45678", 18, GREY)]), "held-out: provider down E-6002"),
    "payment_error_e1187_dark.png": (screen("Payment declined", (150, 30, 60), [("Billing address does not match.", 16, GREY), ("Code: E-1187", 22, DARK_RED)], dark=True, button="Edit address"), "held-out: address mismatch E-1187"),
    "payment_error_e4021_app.png": (screen("Pay now", (120, 40, 140), [("Card declined", 20, DARK_RED), ("Reference E-4021", 18, GREY)], button="Use another card"), "held-out: E-4021 new layout"),
    "order_confirmation_54321.png": (screen("Thanks for shopping!", GREEN, [("Your order #54321 is confirmed", 16, GREY), ("Total: 49.90 EUR", 18, GREY), ("Arrives Tuesday", 18, GREY)], dark=True), "held-out: confirmation 54321"),
    "order_tracking_45678.png": (screen("Parcel tracking", (30, 110, 130), [("Order 45678", 20, GREY), ("Status: Delayed", 22, (200, 100, 20)), ("New estimate: Friday", 18, GREY)], button="Details"), "held-out: tracking 45678"),
}

# Chinese screenshots (held-out): other codes, layouts and wording than any training image.
HELDOUT_ZH: Dict[str, Tuple[Callable[[], Image.Image], str]] = {
    "zh_payment_error_e6002.png": (screen("支付失败", RED, [("支付渠道暂时无法响应", 18, GREY), ("错误代码 E-6002", 22, DARK_RED), ("订单号 45678", 18, GREY)], font=_cjk_font), "held-out zh: provider down E-6002, order 45678"),
    "zh_payment_error_e1187_dark.png": (screen("付款未成功", (150, 30, 60), [("账单地址与银行卡信息不一致", 16, GREY), ("错误码：E-1187", 22, DARK_RED)], dark=True, button="修改地址", font=_cjk_font), "held-out zh: address mismatch E-1187, dark"),
    "zh_payment_error_e4021_app.png": (screen("收银台", (120, 40, 140), [("银行卡被拒绝", 20, DARK_RED), ("参考编号 E-4021", 18, GREY), ("应付金额 ¥89.00", 18, GREY)], button="换一张卡", font=_cjk_font), "held-out zh: card declined E-4021"),
    "zh_order_confirmation_54321.png": (screen("下单成功", GREEN, [("订单号：54321", 20, GREY), ("实付款 ¥129.00", 18, GREY), ("预计周二送达", 18, GREY)], dark=True, font=_cjk_font), "held-out zh: confirmation 54321, dark"),
    "zh_order_tracking_67890.png": (screen("物流详情", (30, 110, 130), [("订单编号 67890", 20, GREY), ("运输中：已到达上海转运中心", 16, (200, 100, 20)), ("预计明天送达", 18, GREY)], button="查看详情", font=_cjk_font), "held-out zh: tracking 67890"),
}


def encode(name: str, image: Image.Image) -> bytes:
    """JPEG (quality 75) for photos, optimised PNG for screenshots."""
    buffer = io.BytesIO()
    if name.endswith(".png"):
        image.save(buffer, format="PNG", optimize=True)
    else:
        image.save(buffer, format="JPEG", quality=JPEG_QUALITY, optimize=True)
    return buffer.getvalue()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=DEFAULT_ROOT, help="media root (data/media)")
    args = parser.parse_args()
    total = 0
    for folder, images in (("images", {**IMAGES, **TRAINING_VARIANTS}), ("heldout/images", {**HELDOUT, **HELDOUT_ZH})):
        out = args.root / folder
        out.mkdir(parents=True, exist_ok=True)
        for name, (maker, description) in images.items():
            image = maker()
            assert max(image.size) <= MAX_SIDE, (name, image.size)
            data = encode(name, image)
            assert len(data) <= MAX_BYTES, (name, len(data))
            (out / name).write_bytes(data)
            total += len(data)
            print(f"{folder}/{name:36s} {image.size[0]}x{image.size[1]} {len(data) / 1024:5.1f} KB  {description}")
    print(f"total {total / 1024:.0f} KB")


if __name__ == "__main__":
    main()
