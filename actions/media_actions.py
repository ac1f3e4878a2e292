"""Actions that answer what the customer showed us: error codes read from payment screenshots.

``action_read_payment_error`` answers ``payment_problem`` (rules and stories run it): when the
text read from the customer's screenshot (``image_text`` in the parse data, from the
ImageTextReader) or the typed text holds an error code such as ``E-4021``, it says what that code
means and stores the code in the ``payment_error_code`` slot, then gives the general payment
guidance (``utter_payment_problem``). Without a code it gives the guidance alone.

Like ``actions.actions`` this imports only ``components.constants`` from the plugin (no models).
"""

import re
from typing import Any, Dict, List, Optional, Text, Tuple

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.replies import language_of
from components.constants import IMAGE_TEXT

PAYMENT_ERROR_SLOT = "payment_error_code"
PAYMENT_INTENT = "payment_problem"

# "E-4021", "E 4021", "e4021", "E–4021" (OCR may read the dash as an en dash or drop it).
ERROR_CODE_PATTERN = re.compile(r"\b([A-Z])\s?[-\u2010-\u2015]?\s?(\d{4})\b", re.IGNORECASE)

# The payment provider's error codes: what happened, and what the customer can do.
PAYMENT_ERROR_CODES: Dict[str, Tuple[str, str]] = {
    "E-1187": (
        "the billing address doesn't match the one your bank has for this card",
        "Please enter the billing address exactly as it appears on your bank statement.",
    ),
    "E-2210": (
        "the bank reported insufficient funds on the card",
        "Please check your balance or use another card or payment method.",
    ),
    "E-3307": (
        "the card's security check (3-D Secure) with your bank failed or timed out",
        "Please try again and confirm the payment in your banking app when it asks you to.",
    ),
    "E-4021": (
        "your bank declined the card",
        "Your bank can tell you why; meanwhile you can pay with another card or PayPal.",
    ),
    "E-5103": (
        "the card has expired",
        "Please update the card's expiry date or use another card.",
    ),
    "E-6002": (
        "our payment provider was briefly unavailable; nothing was charged",
        "Please wait a few minutes and try again.",
    ),
}


# The same codes as the customer reads them in Chinese (tests keep the two tables' codes equal).
PAYMENT_ERROR_CODES_ZH: Dict[str, Tuple[str, str]] = {
    "E-1187": ("账单地址与银行登记的地址不一致", "请按银行对账单上的地址准确填写账单地址。"),
    "E-2210": ("银行提示卡内余额不足", "请查看余额，或换一张卡、换一种支付方式。"),
    "E-3307": ("银行的安全验证（3-D Secure）未通过或已超时", "请重试，并在银行App提示时确认付款。"),
    "E-4021": ("您的银行拒绝了这张卡的付款", "具体原因可以咨询发卡银行；您也可以先换一张卡或用PayPal付款。"),
    "E-5103": ("这张卡已过期", "请更新卡的有效期，或换一张卡。"),
    "E-6002": ("支付服务商暂时不可用，没有产生扣款", "请过几分钟再试。"),
}


def find_error_codes(text: Optional[str]) -> List[str]:
    """Error codes in ``text``, normalised to ``E-4021``, each once, known codes first."""
    found: List[str] = []
    for letter, digits in ERROR_CODE_PATTERN.findall(text or ""):
        code = f"{letter.upper()}-{digits}"
        if code not in found:
            found.append(code)
    return sorted(found, key=lambda code: code not in PAYMENT_ERROR_CODES)


def explain_error_code(code: str, from_screenshot: bool, language: str = "en") -> str:
    """One customer-facing answer for an error code (known or not)."""
    if language == "zh":
        where = "您的截图显示" if from_screenshot else "您提到的"
        if code in PAYMENT_ERROR_CODES_ZH:
            meaning, advice = PAYMENT_ERROR_CODES_ZH[code]
            return f"{where}错误代码 {code}：{meaning}。{advice}"
        return f"{where}错误代码 {code}。我不认识这个代码，已经记录下来转给支付团队；如果下面的建议没有帮助，同事可以帮您查询。"
    where = "Your screenshot shows" if from_screenshot else "You mentioned"
    if code in PAYMENT_ERROR_CODES:
        meaning, advice = PAYMENT_ERROR_CODES[code]
        return f"{where} error code {code}: {meaning}. {advice}"
    return (
        f"{where} error code {code}. I don't know that code, so I've noted it for our payments "
        "team; a colleague can look it up if the tips below don't help."
    )


class ActionReadPaymentError(Action):
    """Explains a payment error code read from a screenshot (or typed) and stores it in a slot."""

    def name(self) -> Text:
        return "action_read_payment_error"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> List[EventType]:
        latest: Dict[str, Any] = tracker.latest_message or {}
        codes = find_error_codes(latest.get(IMAGE_TEXT))
        from_screenshot = bool(codes)
        intent = (latest.get("intent") or {}).get("name")
        if not codes and intent == PAYMENT_INTENT:
            codes = find_error_codes(latest.get("text"))
        if not codes:
            dispatcher.utter_message(response="utter_payment_problem")
            return []
        dispatcher.utter_message(
            text=explain_error_code(codes[0], from_screenshot, language_of(tracker)))
        dispatcher.utter_message(response="utter_payment_problem")
        return [SlotSet(PAYMENT_ERROR_SLOT, codes[0])]
