"""What the actions say to customers, in each language the assistant speaks (en, zh).

One home for the actions' customer-facing sentences: ``say(key, language, **values)`` fills one
in. Responses of the domain (``utter_*``) pick their language through the ``language`` slot's
conditional variations instead; this module covers what actions compose themselves.
"""

from typing import Any, Dict, Iterable

from rasa_sdk import Tracker

from components.constants import IMAGE_TEXT
from components.text.language import ENGLISH, LANGUAGE_SLOT, SUPPORTED_LANGUAGES, detect_language


TEXTS: Dict[str, Dict[str, str]] = {
    "not_verified": {
        "en": "I couldn't verify that order. Please check the order number and the email address "
              "or postcode on the order, and try again.",
        "zh": "无法核实这个订单。请检查订单号，以及订单上的邮箱地址或邮编，然后再试一次。",
    },
    "locked": {
        "en": "I couldn't verify that order, so I can't share its details or change it here. A "
              "colleague from our customer service team can help: just say \"talk to a person\".",
        "zh": "无法核实这个订单，所以我不能在这里透露或修改它的信息。人工客服同事可以帮您：直接说“转人工”就行。",
    },
    "need_order_number": {
        "en": "I need your 5-digit order number to check the status, for example 12345.",
        "zh": "查询状态需要您的5位订单号，例如 12345。",
    },
    "bad_order_number": {
        "en": "An order number has exactly 5 digits, like 12345. Could you check it?",
        "zh": "订单号是5位数字，例如 12345。请您再核对一下。",
    },
    "no_photo_ok": {
        "en": "No problem, we'll go ahead without a photo.",
        "zh": "没关系，我们不用照片继续办理。",
    },
    "photo_received": {
        "en": "Thanks, I've got the photo of the damage.",
        "zh": "谢谢，损坏的照片我已经收到了。",
    },
    "not_returnable": {
        "en": "Order {number} was {status} already, so there is nothing to send back. Is there "
              "another order you'd like to return?",
        "zh": "订单 {number} 已经{status}，没有需要寄回的商品。还有其他订单需要退货吗？",
    },
    "ask_reason_again": {
        "en": "Could you tell me in a few words why you're returning it?",
        "zh": "能简单说一下退货的原因吗？",
    },
    "need_number_and_reason": {
        "en": "I need the order number and the reason before I can open a return.",
        "zh": "办理退货需要订单号和退货原因。",
    },
    "return_opened": {
        "en": "I've opened return {reference} for order {number} (reason: {reason}).{evidence} "
              "You'll get a prepaid return label by email within 24 hours.",
        "zh": "已为订单 {number} 办理退货 {reference}（原因：{reason}）。{evidence}"
              "24小时内您会收到一封带预付退货面单的邮件。",
    },
    "evidence_one": {"en": " I added the 1 attachment you sent as evidence.",
                     "zh": "您发来的1个附件已作为凭证附上。"},
    "evidence_many": {"en": " I added the {count} attachments you sent as evidence.",
                      "zh": "您发来的{count}个附件已作为凭证附上。"},
    "handoff": {
        "en": "I've passed our conversation to a member of our customer service team (ticket "
              "{reference}). A human colleague will reply here as soon as possible, usually within "
              "a few hours, and can see everything we talked about, so you won't need to repeat "
              "yourself.",
        "zh": "我已经把我们的对话转给了人工客服同事（工单 {reference}）。同事会尽快在这里回复您，"
              "通常在几个小时内，并且能看到我们之前的全部对话，您不需要再重复说明。",
    },
    "clarify_out_of_scope": {"en": "Sorry, that's not something I can help with.",
                             "zh": "抱歉，这个我帮不上忙。"},
    "clarify_unsure": {"en": "Sorry, I'm not sure I understood.", "zh": "抱歉，我不太确定是否理解了您的意思。"},
    "did_you_mean": {"en": "{lead} Did you mean one of these?", "zh": "{lead}您是想问下面哪一个？"},
    "something_else": {"en": "Something else", "zh": "其他问题"},
    "glad_to_help": {
        "en": "I'm glad I could help! Thanks for shopping with us, and have a lovely day.",
        "zh": "很高兴能帮到您！感谢您的惠顾，祝您生活愉快。",
    },
    "file_unusable": {"en": "I couldn't use one of the files you sent. {message}",
                      "zh": "您发送的一个文件无法使用。{message}"},
    "unknown_date": {"en": "not known yet", "zh": "暂未确定"},
    "status_processing": {
        "en": "Order {number} is being prepared in our warehouse and hasn't shipped yet. Expected "
              "delivery: {eta}.",
        "zh": "订单 {number} 正在仓库备货，还没有发货。预计送达：{eta}。",
    },
    "status_shipped": {
        "en": "Order {number} has shipped with {carrier} (tracking number {tracking}). Expected "
              "delivery: {eta}.",
        "zh": "订单 {number} 已由 {carrier} 发出（运单号 {tracking}）。预计送达：{eta}。",
    },
    "status_out_for_delivery": {
        "en": "Order {number} is out for delivery with {carrier} today (tracking number "
              "{tracking}).",
        "zh": "订单 {number} 今天正由 {carrier} 派送中（运单号 {tracking}）。",
    },
    "status_delayed": {
        "en": "Order {number} is delayed with {carrier} (tracking number {tracking}), sorry about "
              "that. The new expected delivery date is {eta}.",
        "zh": "很抱歉，订单 {number} 在 {carrier} 的运输中延误了（运单号 {tracking}）。新的预计送达日期是{eta}。",
    },
    "status_delivered": {"en": "Order {number} was delivered by {carrier} on {eta}.",
                         "zh": "订单 {number} 已于{eta}由 {carrier} 送达。"},
    "status_cancelled": {
        "en": "Order {number} was cancelled and will not be shipped. If you already paid, the "
              "money goes back to your original payment method.",
        "zh": "订单 {number} 已取消，不会发货。如果您已经付款，款项会原路退回。",
    },
    "status_returned": {
        "en": "Order {number} was returned to us. The refund goes to your original payment method "
              "within 5-7 business days of the parcel arriving.",
        "zh": "订单 {number} 已退回给我们。包裹到达后5-7个工作日内，退款会原路退回。",
    },
    "status_other": {"en": "Order {number} has the status '{status}'.",
                     "zh": "订单 {number} 的状态是“{status}”。"},
    "items": {"en": "{text} Items: {items}.", "zh": "{text}商品：{items}。"},
}

# Button titles of the clarifying question (intent -> what the customer would click).
INTENT_TITLES: Dict[str, Dict[str, str]] = {
    "order_status": {"en": "Where is my order?", "zh": "我的订单在哪里？"},
    "delivery_delay": {"en": "My delivery is late", "zh": "快递迟迟没到"},
    "damaged_item": {"en": "My item arrived damaged", "zh": "收到的商品坏了"},
    "wrong_item": {"en": "I got the wrong item", "zh": "发错货了"},
    "return_request": {"en": "I want to return something", "zh": "我要退货"},
    "refund_status": {"en": "Where is my refund?", "zh": "我的退款到哪了？"},
    "payment_problem": {"en": "A problem with a payment", "zh": "付款出了问题"},
    "account_login_problem": {"en": "I can't log in to my account", "zh": "我登录不了账户"},
    "change_address": {"en": "Change my delivery address", "zh": "修改收货地址"},
    "complaint": {"en": "I want to make a complaint", "zh": "我要投诉"},
    "request_human": {"en": "Talk to a person", "zh": "转人工客服"},
}

# How return reasons (nlu.yml's canonical synonym values) and order statuses read in Chinese.
ZH_TERMS: Dict[str, str] = {
    "damaged": "商品损坏", "wrong item": "发错货", "wrong size": "尺码不合适",
    "defective": "质量问题", "no longer needed": "不需要了", "not as described": "与描述不符",
    "arrived late": "送达太晚", "cancelled": "取消", "returned": "退货",
}
ZH_WEEKDAYS = ("星期一", "星期二", "星期三", "星期四", "星期五", "星期六", "星期日")


def language_of(tracker: Tracker) -> str:
    """The conversation's language (the ``language`` slot), English when unset or unknown."""
    value = tracker.get_slot(LANGUAGE_SLOT)
    return value if value in SUPPORTED_LANGUAGES else ENGLISH


def language_of_latest_message(tracker: Tracker) -> str:
    """The language of the customer's latest words: what they typed, else what they said (the
    transcript); text read from a screenshot does not count (an English error page sent by a
    Chinese customer). A message without words keeps the conversation's language."""
    typed = next((e.get("text") for e in reversed(tracker.events) if e.get("event") == "user"), "")
    latest = tracker.latest_message or {}
    understood = str(latest.get("text") or "")
    read = str(latest.get(IMAGE_TEXT) or "")
    if read:
        understood = understood.replace(read, " ")
    return detect_language(typed) or detect_language(understood) or language_of(tracker)


def say(key: str, language: str, **values: Any) -> str:
    """The sentence ``key`` in ``language`` (English when it has no translation), filled in."""
    variants = TEXTS[key]
    return variants.get(language, variants[ENGLISH]).format(**values)


def intent_title(intent: str, language: str) -> str:
    titles = INTENT_TITLES[intent]
    return titles.get(language, titles[ENGLISH])


def term(value: Any, language: str) -> str:
    """A return reason or status as the customer reads it (free-text reasons stay as written)."""
    text = str(value)
    return ZH_TERMS.get(text.lower(), text) if language == "zh" else text


def format_date(value: Any, language: str) -> str:
    """``Friday 3 January 2025`` / ``2025年1月3日（星期五）``: unambiguous in every country."""
    if not value:
        return say("unknown_date", language)
    if language == "zh":
        return f"{value.year}年{value.month}月{value.day}日（{ZH_WEEKDAYS[value.weekday()]}）"
    return f"{value:%A} {value.day} {value:%B %Y}"


def items_text(items: Iterable[Dict[str, Any]]) -> str:
    return ", ".join(f"{item.get('quantity', 1)} x {item.get('name', item.get('sku'))}" for item in items)


def order_status_text(order: Dict[str, Any], language: str = ENGLISH) -> str:
    """One customer-facing sentence (or two) for an order's status, carrier and ETA."""
    status = order["status"]
    values = {
        "number": order["order_number"], "status": status, "carrier": order.get("carrier"),
        "tracking": order.get("tracking_number"), "eta": format_date(order.get("eta"), language),
    }
    key = f"status_{status}" if f"status_{status}" in TEXTS else "status_other"
    text = say(key, language, **values)
    return say("items", language, text=text, items=items_text(order.get("items") or []))
