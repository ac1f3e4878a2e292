"""Runs Rasa's NLU graph off the server's event loop, so text never waits behind media.

Why: Rasa 3.6 runs the whole NLU graph synchronously inside ``MessageProcessor.parse_message``,
on the event loop that serves every conversation of the process. One voice message being
transcribed (seconds of CPU), five large photos being decoded, or a slow download held every
other customer's reply, and even ``GET /status``, until it returned.

What: ``install()`` replaces ``MessageProcessor.parse_message`` with a version that runs the same
graph call (``_parse_message_with_graph``) in a worker thread and awaits it, so the loop keeps
serving other conversations. Two bounded pools keep text apart from media: a message that carries
or names media (attachments in its metadata, or an inline reference in its text) runs in the
media pool; a text-only message runs in the text pool and so never queues behind a transcription.

The dialogue policies' predictions run off the loop too, in the text pool: with the NLU gone from
the loop, the next-action predictions (TED's TensorFlow model and the tracker featurization it
replays, two or three per message) were two thirds of the event loop's time under 50 text
conversations (py-spy), and every other customer's HTTP request, tracker read and action call
queued behind them. ``_run_prediction_loop`` is Rasa's own loop with the one synchronous
prediction call awaited in a worker; actions still run on the loop, in the same order.

Why this mechanism and not another (several Sanic workers, a separate NLU server): it keeps the
embedded default one process with one copy of every model in memory (a replica with all models
loaded is over 2 GB), and it keeps Rasa's own guarantees. Per-conversation order is Rasa's lock
store: ``Agent.handle_message`` holds the conversation's lock while the message is parsed and
answered, so a customer's second message is never answered before the first. Scale-out beyond one
process is Rasa's replicas with a Redis lock store (see the deployment docs), and this module works
unchanged in each replica.

Priority: on a small machine the media worker alone can keep every core busy (a transcription or an
image backbone uses all of torch's, CTranslate2's or ONNX Runtime's threads), and a text message then
waits for CPU even though it has its own pool: measured on 2 cores, 50 mixed conversations gave
text p95 6.2 s against 0.19 s alone. So the media worker threads run at a lower scheduling priority
(``MM_NLU_MEDIA_NICE``, default 10, Linux's per-thread nice value: the scheduler then gives a
text thread about nine times a media thread's share of a contended core; at 19 it is about 70
times, which also starves media behind any other busy process on the machine: measured once at
19 while a training ran next to the server, photo p50 was 93 s against 23 s on a quiet machine;
that run was not an A/B against 10, whose share follows from the scheduler's weights). The libraries' own worker
threads are created by the thread that first uses them - the transcriber, the OCR engine and the
image and speech encoders load lazily inside the media worker, and OpenMP gives each calling
thread its own team - so they inherit it. Media then takes every core while no text is waiting,
and yields them as soon as text is: text latency stays close to its latency alone, media latency
absorbs the load. Why not fewer media threads instead: that would idle cores whenever no text is
waiting, lowering throughput for nothing.

Bounds: each pool has a fixed number of threads (``MM_NLU_MEDIA_WORKERS``, default 1;
``MM_NLU_TEXT_WORKERS``, default 2), so however many media messages arrive, at most that many are
decoded at once and memory stays bounded by the per-message media limits times the workers; the
waiting messages hold only their text and references. Components are written for this: one
instance serves every conversation, keeps no per-conversation state and guards lazy loading with
a lock. Because a message can wait for a media worker longer than Rasa's 60 s default ticket
lifetime, ``scripts/serve`` raises ``TICKET_LOCK_LIFETIME``.

The channels of this package call ``install()`` when Rasa builds their blueprints; it is
idempotent and changes nothing for a processor that uses a remote NLU server (``http_interpreter``).
"""

import asyncio
import concurrent.futures
import dataclasses
import logging
import os
import re
import threading
from typing import Any, Dict, Optional, Text

from rasa.core.channels.channel import OutputChannel, UserMessage
from rasa.core.processor import MessageProcessor
from rasa.exceptions import ActionLimitReached
from rasa.shared.core.trackers import DialogueStateTracker

from components.channels.language_hint import add_conversation_language
from components.constants import ATTACHMENTS
from components.media.mime import EXTENSION_KINDS

logger = logging.getLogger(__name__)

MEDIA_WORKERS_ENV = "MM_NLU_MEDIA_WORKERS"
TEXT_WORKERS_ENV = "MM_NLU_TEXT_WORKERS"
MEDIA_NICE_ENV = "MM_NLU_MEDIA_NICE"
DEFAULT_MEDIA_NICE = 10

# Anything in a text that may be a media reference the resolver would fetch or decode: a data:
# URI, a URL, or a name with a media extension. False positives only cost a place in the media pool.
_EXTENSIONS = "|".join(sorted(re.escape(ext.lstrip(".")) for ext in EXTENSION_KINDS))
_MAYBE_MEDIA = re.compile(rf"data:|https?://|\.(?:{_EXTENSIONS})\b", re.IGNORECASE)


def _env_int(env: str, default: int, low: int, high: int, meaning: str) -> int:
    """A whole number from ``env`` in ``low..high`` (``default`` when unset); a clear error naming
    the variable otherwise, so a typo stops the server at start instead of changing its behaviour."""
    raw = os.environ.get(env, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = None
    if value is None or not low <= value <= high:
        raise ValueError(f"{env} must be {meaning}, got {raw!r}.")
    return value


def _workers(env: str, default: int) -> int:
    return _env_int(env, default, 1, 256, "a number of threads from 1 to 256")


def _media_nice() -> int:
    return _env_int(MEDIA_NICE_ENV, DEFAULT_MEDIA_NICE, 0, 19, "a nice value from 0 to 19")


def _lower_media_thread_priority(nice: int) -> None:
    """Thread initializer of the media pool: this thread (and the library threads it will start)
    yields the CPU to text and to the event loop. Raising a nice value needs no privilege; where the
    platform has no per-thread nice, media simply runs at normal priority."""
    if nice == 0 or not hasattr(os, "setpriority"):
        return
    try:
        thread_id = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, thread_id, max(os.getpriority(os.PRIO_PROCESS, thread_id), nice))
    except OSError as exc:
        logger.warning("NLU media worker keeps normal priority (%s)", exc)


def carries_media(message: UserMessage) -> bool:
    """True when parsing ``message`` may download, decode or transcribe media."""
    metadata = message.metadata if isinstance(message.metadata, dict) else {}
    if metadata.get(ATTACHMENTS):
        return True
    return bool(_MAYBE_MEDIA.search(message.text or ""))


@dataclasses.dataclass
class _Pools:
    media: concurrent.futures.ThreadPoolExecutor
    text: concurrent.futures.ThreadPoolExecutor


_install_lock = threading.Lock()
_pools: Optional[_Pools] = None
_rasa_parse_message = MessageProcessor.parse_message
_rasa_run_prediction_loop = MessageProcessor._run_prediction_loop


def _parse_media_message(
    processor: MessageProcessor,
    message: UserMessage,
    tracker: DialogueStateTracker,
    only_output_properties: bool,
) -> Dict[Text, Any]:
    """The graph call for a message with media, logged when a worker starts on it (operators see
    queueing in the log; the serving tests wait for this line)."""
    logger.info("NLU media worker started on a message from %s", message.sender_id)
    return processor._parse_message_with_graph(message, tracker, only_output_properties)


async def _parse_message_off_loop(
    self: MessageProcessor,
    message: UserMessage,
    tracker: Optional[DialogueStateTracker] = None,
    only_output_properties: bool = True,
) -> Dict[Text, Any]:
    """``MessageProcessor.parse_message`` with the graph run in a worker thread.

    The steps before and after the graph call are Rasa 3.6.21's own (retrieval intent, unseen
    features check), called through the same private methods. The conversation's language
    goes into the message first (``language_hint``), for the speech recogniser's model choice."""
    add_conversation_language(message, tracker)
    if self.http_interpreter or _pools is None:
        return await _rasa_parse_message(self, message, tracker, only_output_properties)
    if tracker is None:
        tracker = DialogueStateTracker.from_events(message.sender_id, [])
    loop = asyncio.get_running_loop()
    if carries_media(message):
        pool, run = _pools.media, _parse_media_message
    else:
        pool, run = _pools.text, MessageProcessor._parse_message_with_graph
    parse_data = await loop.run_in_executor(pool, run, self, message, tracker, only_output_properties)
    self._update_full_retrieval_intent(parse_data)
    self._check_for_unseen_features(parse_data)
    return parse_data


async def _run_prediction_loop_off_loop(
    self: MessageProcessor, output_channel: OutputChannel, tracker: DialogueStateTracker
) -> None:
    """``MessageProcessor._run_prediction_loop`` of Rasa 3.6.21 with each next-action prediction
    run in a text worker; everything else (actions, the circuit breaker, end-to-end slot
    extraction) is Rasa's own code, on the loop, in the same order."""
    if _pools is None:
        return await _rasa_run_prediction_loop(self, output_channel, tracker)
    loop = asyncio.get_running_loop()
    should_predict_another_action = True
    while should_predict_another_action and self._should_handle_message(tracker):
        try:
            action, prediction = await loop.run_in_executor(
                _pools.text, self.predict_next_with_tracker_if_should, tracker
            )
        except ActionLimitReached:
            logger.warning(
                f"Circuit breaker tripped. Stopped predicting more actions for sender '{tracker.sender_id}'."
            )
            if self.on_circuit_break:
                self.on_circuit_break(tracker, output_channel, self.nlg)
            break
        if prediction.is_end_to_end_prediction:
            tracker = await self.run_action_extract_slots(output_channel, tracker)
        should_predict_another_action = await self._run_action(
            action, tracker, output_channel, self.nlg, prediction
        )


def install() -> None:
    """Makes every ``MessageProcessor`` of this process parse off the event loop (idempotent)."""
    global _pools
    with _install_lock:
        if _pools is not None:
            return
        nice = _media_nice()
        _pools = _Pools(
            media=concurrent.futures.ThreadPoolExecutor(
                _workers(MEDIA_WORKERS_ENV, 1), thread_name_prefix="nlu-media",
                initializer=_lower_media_thread_priority, initargs=(nice,),
            ),
            text=concurrent.futures.ThreadPoolExecutor(
                _workers(TEXT_WORKERS_ENV, 2), thread_name_prefix="nlu-text"
            ),
        )
        MessageProcessor.parse_message = _parse_message_off_loop  # type: ignore[assignment]
        MessageProcessor._run_prediction_loop = _run_prediction_loop_off_loop  # type: ignore[assignment]
        logger.info("NLU and dialogue predictions run off the event loop (media and text worker pools; media at nice %d).", nice)
