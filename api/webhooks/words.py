"""Webhook refusals and delivery errors in the page's language (``/ops/webhooks``).

The API keeps its English (``message``, a delivery's ``last_error``) and its stable codes; a page
shows the same reason in words: :class:`api.webhooks.targets.Reason` through the i18n keys
``js_refused_<key>`` (also what ``static/ops_webhooks.js`` uses for a registration refused), and
a delivery's stored error read back into its kind (refused, no connection, timed out, a
redirect) with the technical detail kept as it came.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from api.render import fill
from api.webhooks.targets import Reason, parse_reason

Translate = Callable[[str], str]

_TIMEOUTS = ("ConnectTimeout", "ReadTimeout", "WriteTimeout", "PoolTimeout", "TimeoutException")
_REDIRECT = re.compile(r"^HTTP (\d{3}): redirects are not followed \((.*)\)$", re.DOTALL)


def reason_words(reason: Reason, t: Translate) -> str:
    """A refusal in words (nested reasons too)."""
    values = dict(reason.params)
    if reason.why is not None:
        values["why"] = reason_words(reason.why, t)
    key = "js_refused_" + reason.key
    text = t(key)
    return str(reason) if text == key else fill(text, values)


def refusal_words(message: str, t: Translate) -> str:
    """An English refusal message (``str(TargetRefused)``) in words; as it is if unknown."""
    reason = parse_reason(message)
    return message if reason is None else reason_words(reason, t)


def delivery_error_words(error: str | None, t: Translate) -> str:
    """A delivery's ``last_error`` (:class:`api.webhooks.outbox.Answer`) in words."""
    if not error:
        return ""
    text = error
    kind, _, rest = text.partition(": ")
    if kind == "ConnectError" and rest.startswith("refused: "):
        text, kind, rest = rest, "refused", rest.removeprefix("refused: ")
    if kind == "refused":
        return fill(t("js_webhook_error_refused"), {"why": refusal_words(rest, t)})
    if kind in _TIMEOUTS:
        return fill(t("js_webhook_error_timeout"), {"detail": rest or kind})
    if kind in ("ConnectError", "RemoteProtocolError", "ReadError", "WriteError"):
        return fill(t("js_webhook_error_connect"), {"detail": rest or kind})
    redirect = _REDIRECT.match(text)
    if redirect:
        status, location = redirect.groups()
        return fill(t("js_webhook_error_redirect"), {"status": status, "location": location})
    return text  # "HTTP 503" and the gateway's own words: as they came
