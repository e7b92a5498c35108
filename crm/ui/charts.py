"""The progress page's chart of sends over time, as SVG geometry the template draws: no chart
library, nothing to download, readable without JavaScript."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from crm.campaigns.selectors import SendsOverTime

WIDTH, HEIGHT = 640, 180
LEFT, RIGHT, TOP, BOTTOM = 40, 8, 10, 24


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    count: int
    starts_at: datetime


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    peak: int
    total: int
    starts_at: datetime
    ends_at: datetime
    plot_left: int
    plot_right: int
    plot_top: int
    baseline: int

    @property
    def description(self) -> str:
        return (
            f"{self.total} messages sent between {self.starts_at:%b %-d, %H:%M}"
            f" and {self.ends_at:%b %-d, %H:%M} UTC; "
            f"at most {self.peak} in one interval of {len(self.bars)}."
        )


def sends_chart(series: SendsOverTime | None) -> Chart | None:
    if series is None:
        return None
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / len(series.counts)
    step = (series.ends_at - series.starts_at) / len(series.counts)
    peak = series.peak
    bars = []
    for index, count in enumerate(series.counts):
        height = plot_height * count / peak if peak else 0
        bars.append(
            Bar(
                x=round(LEFT + index * slot + 1, 1),
                y=round(TOP + plot_height - height, 1),
                width=round(max(slot - 2, 1), 1),
                height=round(height, 1),
                count=count,
                starts_at=series.starts_at + step * index,
            )
        )
    return Chart(
        width=WIDTH, height=HEIGHT, bars=bars, peak=peak, total=sum(series.counts),
        starts_at=series.starts_at, ends_at=series.ends_at,
        plot_left=LEFT, plot_right=WIDTH - RIGHT, plot_top=TOP, baseline=HEIGHT - BOTTOM,
    )  # fmt: skip
