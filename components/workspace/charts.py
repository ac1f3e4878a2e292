"""The dashboard's charts: matplotlib (Agg, no display) drawn server-side as SVG from an
analytics report, so the page needs no charting script."""

import io
from typing import Any, Callable, Dict, List

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

NEGATIVE = "#c0392b"
ALERT = "#e67e22"
MAIN = "#2c6fbb"


def _svg(draw: Callable[[Any], None], width: float = 7.5, height: float = 2.8) -> bytes:
    figure, axes = plt.subplots(figsize=(width, height))
    try:
        draw(axes)
        axes.spines[["top", "right"]].set_visible(False)
        figure.tight_layout()
        out = io.BytesIO()
        figure.savefig(out, format="svg")
        return out.getvalue()
    finally:
        plt.close(figure)


def _bars(labels: List[str], values: List[float], title: str, colour: str = MAIN) -> Callable[[Any], None]:
    def draw(axes: Any) -> None:
        if not labels:
            axes.text(0.5, 0.5, "no data in this range", ha="center", va="center", transform=axes.transAxes)
            axes.set_axis_off()
        else:
            axes.barh(labels[::-1], values[::-1], color=colour)
        axes.set_title(title, loc="left")

    return draw


def _share(labels: List[str], values: List[float], alert: float, title: str, rotate: bool) -> Callable[[Any], None]:
    def draw(axes: Any) -> None:
        axes.plot(labels, values, marker="o", color=NEGATIVE, label="negative share")
        axes.axhline(alert, color=ALERT, linestyle="--", label=f"alert ({alert:.0%})")
        axes.set_ylim(0, 1)
        axes.yaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
        axes.set_title(title, loc="left")
        axes.legend(loc="upper right", fontsize="small")
        if rotate:
            axes.tick_params(axis="x", labelrotation=60, labelsize="x-small")

    return draw


def _daily(report: Dict[str, Any]) -> Callable[[Any], None]:
    days = [row["day"][5:] for row in report["daily"]]

    def draw(axes: Any) -> None:
        axes.bar(days, [row["messages"] for row in report["daily"]], color="#9dc3e6", label="messages")
        axes.plot(days, [row["conversations"] for row in report["daily"]], color=MAIN, marker="o",
                  label="conversations")
        axes.set_title("Conversations and messages per day", loc="left")
        axes.legend(loc="upper left", fontsize="small")
        axes.tick_params(axis="x", labelrotation=60, labelsize="x-small")

    return draw


def _chart_drawers(report: Dict[str, Any]) -> Dict[str, Callable[[Any], None]]:
    return {
        "daily": _daily(report),
        "negative_daily": _share([r["day"][5:] for r in report["daily"]],
                                 [r["negative_share"] for r in report["daily"]], report["alert_share"],
                                 "Share of negative turns per day", True),
        "negative_hourly": _share([str(r["hour"]) for r in report["hourly"]],
                                  [r["negative_share"] for r in report["hourly"]], report["alert_share"],
                                  "Share of negative turns per hour of day (UTC)", False),
        "intents": _bars([r["intent"] for r in report["intents"]], [r["messages"] for r in report["intents"]],
                         "Top intents"),
        "handoff_intents": _bars([r["intent"] for r in report["handoff_intents"]],
                                 [r["handoffs"] for r in report["handoff_intents"]],
                                 "Intents that ended in a hand-off", NEGATIVE),
        "fallback_intents": _bars([r["intent"] for r in report["fallback_intents"]],
                                  [r["fallbacks"] for r in report["fallback_intents"]],
                                  "Intents that ended in a fallback", ALERT),
        "media": _bars([r["kind"] for r in report["media"]], [r["messages"] for r in report["media"]],
                       "Messages by modality"),
        "errors": _bars([r["code"] for r in report["errors"]], [r["count"] for r in report["errors"]],
                        "Attachment errors by code", NEGATIVE),
    }


CHARTS = ("daily", "negative_daily", "negative_hourly", "intents", "handoff_intents",
          "fallback_intents", "media", "errors")


def chart_svg(report: Dict[str, Any], name: str) -> bytes:
    """One chart of the report as SVG; KeyError for an unknown name."""
    if name not in CHARTS:
        raise KeyError(name)
    return _svg(_chart_drawers(report)[name])
