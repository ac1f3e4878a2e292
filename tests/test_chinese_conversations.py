"""Whole conversations in Chinese with the bilingual reference assistant, through REST.

The session's trained model runs in a real `rasa run` with its real action server (fixtures in
conftest.py). Each test is what a Chinese-speaking customer would see: the greeting, the order
status behind the ownership check, a damaged item with a photo through the return form, a
Chinese payment-error screenshot (drawn in a CJK font, read by OCR), a hand-off, and an English
customer of the same deployment, who still gets English.
"""

import json
import shutil
import uuid
from pathlib import Path
from typing import Any, Callable, Dict, List

import pytest
import requests
import sqlalchemy as sa

from actions import db
from tests.conftest import reply_text, saved_user_events

ROOT = Path(__file__).resolve().parents[1]
DAMAGED_PHOTO = "data/media/images/damaged_parcel_torn.jpg"
UPLOADS = ROOT / "var" / "media" / "uploads"  # an AttachmentResolver upload root in config.yml
CJK_FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")  # Debian fonts-noto-cjk

Say = Callable[..., List[Dict[str, Any]]]


def _sender(name: str) -> str:
    return f"zh-{name}-{uuid.uuid4().hex[:8]}"


def _image(path: str) -> Dict[str, Any]:
    return {"attachments": [{"type": "image", "path": path}]}


def _latest(rasa_server: str, sender: str) -> Dict[str, Any]:
    tracker = requests.get(f"{rasa_server}/conversations/{sender}/tracker", timeout=30).json()
    return tracker


def test_order_status_in_chinese_asks_the_check_in_chinese_and_answers_in_chinese(
    say: Say, rasa_server: str,
) -> None:
    sender = _sender("status")
    assert "智能客服" in reply_text(say(sender, "你好"))
    asked = reply_text(say(sender, "我的订单12345在哪里？"))
    assert "邮箱" in asked and "DHL" not in asked, asked
    tracker = _latest(rasa_server, sender)
    assert tracker["latest_message"]["intent"]["name"] in ("order_status", "delivery_delay")
    assert tracker["slots"]["language"] == "zh"
    # The email address is no Chinese word, but the conversation stays in Chinese.
    status = reply_text(say(sender, "alex.morgan@example.com"))
    assert "订单 12345 已由 DHL 发出" in status and "JD014600003828" in status, status
    assert "年" in status and "月" in status  # the date as a Chinese reader writes it


def _voice(clip: str, **extra: Any) -> Dict[str, Any]:
    return {"attachments": [{"type": "audio", "path": f"data/media/heldout/voice/{clip}"}], **extra}


def test_order_status_by_a_mandarin_voice_message_in_a_chinese_conversation(
    say: Say, rasa_server: str,
) -> None:
    sender = _sender("voice")
    assert "智能客服" in reply_text(say(sender, "你好"))
    # A clip the assistant never trained on; the conversation's language sends it to Whisper base.
    asked = reply_text(say(sender, "", _voice("zh_where_is_my_order_12345.ogg")))
    assert "邮箱" in asked, asked
    heard = saved_user_events(rasa_server, sender, 2)[-1]["parse_data"]
    assert heard["transcript"]["language"] == "zh" and "12345" in heard["transcript"]["text"], heard["transcript"]
    assert heard["intent"]["name"] in ("order_status", "delivery_delay"), heard["intent"]
    status = reply_text(say(sender, "alex.morgan@example.com"))
    assert "订单 12345 已由 DHL 发出" in status, status


def test_a_voice_message_first_is_heard_in_the_page_language_the_client_sends(say: Say) -> None:
    sender = _sender("voice-first")
    asked = reply_text(say(sender, "", _voice("zh_talk_to_a_person.ogg", language="zh-CN")))
    assert "工单" in asked, asked  # the hand-off ticket, announced in Chinese


def test_order_number_asked_for_in_chinese_when_missing(say: Say) -> None:
    sender = _sender("number")
    asked = reply_text(say(sender, "帮我查一下物流"))
    assert "5位订单号" in asked, asked
    asked = reply_text(say(sender, "订单号是34567"))
    assert "邮箱" in asked, asked
    status = reply_text(say(sender, "jordan.lee@example.com"))
    assert "订单 34567 正在仓库备货" in status, status


def test_damaged_item_with_a_photo_goes_through_the_return_form_in_chinese(
    say: Say, shop_database_url: str,
) -> None:
    sender = _sender("return")
    text = reply_text(say(sender, "我收到的东西坏了，你看照片", _image(DAMAGED_PHOTO)))
    assert "损坏" in text and "谢谢您发来的照片" in text, text
    assert "退货" in text, text  # the offer of a return
    text = reply_text(say(sender, "好的，帮我退货"))
    for _ in range(6):
        if "办理退货 R" in text or "已为订单" in text:
            break
        if "邮箱" in text:
            text = reply_text(say(sender, "NW1 6XE"))
        elif "订单号" in text:
            text = reply_text(say(sender, "12345"))
        elif "原因" in text:
            text = reply_text(say(sender, "屏幕碎了"))
        elif "照片" in text:
            text = reply_text(say(sender, "照片在这里", _image(DAMAGED_PHOTO)))
        else:
            pytest.fail(f"unexpected question in the return form: {text}")
    assert "已为订单 12345 办理退货" in text and "凭证" in text, text
    assert "24小时内" in text, text

    engine = sa.create_engine(shop_database_url)
    with engine.connect() as conn:
        row = conn.execute(sa.text(
            "SELECT order_number, reason, evidence FROM returns ORDER BY id DESC LIMIT 1"
        )).mappings().one()
    evidence = row["evidence"] if isinstance(row["evidence"], list) else json.loads(row["evidence"])
    assert row["order_number"] == "12345"
    assert any(item.get("source") == DAMAGED_PHOTO for item in evidence), evidence


@pytest.fixture()
def chinese_payment_screenshot() -> str:
    """A Chinese payment error page (CJK font) in the upload root; its path as a client sends it."""
    if not CJK_FONT.exists():
        pytest.skip("fonts-noto-cjk is not installed (scripts/setup installs it)")
    from PIL import Image, ImageDraw, ImageFont

    image = Image.new("RGB", (520, 240), (250, 250, 250))
    draw = ImageDraw.Draw(image)
    draw.rectangle([0, 0, 520, 50], fill=(200, 40, 40))
    draw.text((16, 8), "支付失败", font=ImageFont.truetype(str(CJK_FONT), 28), fill="white")
    body = ImageFont.truetype(str(CJK_FONT), 24)
    draw.text((16, 76), "错误代码 E-2210", font=body, fill=(30, 30, 30))
    draw.text((16, 124), "您的银行卡余额不足", font=body, fill=(30, 30, 30))
    draw.text((16, 172), "请更换其他支付方式", font=body, fill=(30, 30, 30))
    folder = UPLOADS / f"zh-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    path = folder / "payment_error_zh.png"
    image.save(path)
    yield str(path.relative_to(ROOT))
    shutil.rmtree(folder, ignore_errors=True)


def test_a_chinese_payment_error_screenshot_is_read_and_explained_in_chinese(
    say: Say, rasa_server: str, chinese_payment_screenshot: str,
) -> None:
    sender = _sender("payment")
    text = reply_text(say(sender, "付款失败了，这是截图", _image(chinese_payment_screenshot)))
    latest = _latest(rasa_server, sender)["latest_message"]
    assert "E-2210" in (latest.get("image_text") or ""), latest.get("image_text")
    assert "您的截图显示错误代码 E-2210" in text and "余额不足" in text, text
    assert "付款没有成功" in text, text  # the general guidance, in Chinese too


def test_a_photo_that_cannot_be_used_is_explained_to_a_chinese_customer_in_chinese(
    say: Say, rasa_server: str,
) -> None:
    sender = _sender("refused")
    folder = UPLOADS / f"zh-{uuid.uuid4().hex[:8]}"
    folder.mkdir(parents=True)
    try:
        broken = folder / "parcel.jpg"
        broken.write_bytes(b"\xff\xd8\xff\xe0 not really a JPEG" * 8)  # a JPEG header, then nothing
        text = reply_text(say(sender, "包裹坏了，看这张照片", _image(str(broken.relative_to(ROOT)))))
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    [error] = _latest(rasa_server, sender)["latest_message"]["attachment_errors"]
    assert error["message"] and error["messages"]["zh"] != error["message"]
    assert f"您发送的一个文件无法使用。{error['messages']['zh']}" in text, text
    assert error["message"] not in text and "I couldn't" not in text, text


def test_asking_for_a_person_in_chinese_opens_a_ticket_and_says_so_in_chinese(
    say: Say, shop_database_url: str,
) -> None:
    sender = _sender("handoff")
    text = reply_text(say(sender, "转人工"))
    shop = db.get_database(shop_database_url)
    [ticket] = shop.tickets_for_conversation(sender)
    assert f"工单 {db.ticket_reference(ticket['id'])}" in text, text
    assert ticket["transcript"][0]["text"] == "转人工"


def test_an_english_customer_of_the_same_deployment_still_gets_english(
    say: Say, rasa_server: str,
) -> None:
    sender = _sender("english")
    assert "virtual assistant" in reply_text(say(sender, "hello"))
    asked = reply_text(say(sender, "where is my order 12345?"))
    assert "please tell me the email address or the postcode on that order" in asked, asked
    assert reply_text(say(sender, "NW1 6XE")).startswith("Order 12345 has shipped with DHL")
    # The same customer switching to Chinese gets Chinese from that message on.
    thanks = reply_text(say(sender, "谢谢你"))
    assert "很高兴能帮到您" in thanks or "不客气" in thanks, thanks
