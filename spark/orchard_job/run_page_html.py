"""The run page's HTML: one self-contained file (inline CSS, pictures as data: URIs, no script, no links)."""

from __future__ import annotations

from dataclasses import dataclass, field
from html import escape
from typing import Any

from orchard_contract.run_page import STATUS_BEGIN, STATUS_END
from orchard_contract.tables import COUNT_KEYS
from orchard_job.run_page_knn import Agreement

STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px auto;max-width:1100px;padding:0 16px;color:#1d2327}
h1{font-size:22px;margin-bottom:4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;margin:6px 0}td,th{border:1px solid #ddd;padding:3px 8px;text-align:left;
vertical-align:top}th{background:#f4f5f6}td.n{text-align:right;font-variant-numeric:tabular-nums}
.ok{color:#17702f}.bad{color:#b3261e;font-weight:600}.note{color:#555;max-width:820px}
.status{border:1px solid #ccc;background:#fafafa;padding:8px 12px;margin:10px 0}
img.thumb{width:48px;height:48px;object-fit:cover;margin:1px;border-radius:3px}
img.plot{max-width:100%;border:1px solid #eee}.dim{color:#888}
"""
PENDING_STATUS = (
    '<div class="status">Status: written by the job. Whether it was published or failed, and its cost, '
    "appear here once the catalog step records the run (and in the <code>runs</code> table).</div>"
)


@dataclass(frozen=True)
class RejectSummary:
    total: int
    by_reason: list[tuple[str, int]]  # most frequent first
    by_label: dict[str, int]
    listed: list[tuple[str, str, str]]  # (path, label, reason): the first few by path


@dataclass(frozen=True)
class Thumbnail:
    path: str
    data_uri: str | None  # None: the file no longer decodes (changed since the run read it)


@dataclass(frozen=True)
class PageData:
    report: dict[str, Any]
    images_by_label: dict[str, int]
    rejects: RejectSummary
    thumbnails: dict[str, list[Thumbnail]]
    scree_uri: str
    scatter_uri: str | None  # None: fewer than two components
    agreement: Agreement | None
    notes: list[str] = field(default_factory=list)


def render(page: PageData) -> str:
    report = page.report
    sections = [
        f"<h1>Orchard run {escape(report['run_id'])}</h1>",
        f"{STATUS_BEGIN}{PENDING_STATUS}{STATUS_END}",
        counts_section(report["counts"]),
        labels_section(page),
        quality_section(page.agreement, report.get("weights", {})),
        plots_section(page),
        rejects_section(page.rejects),
        model_section(report),
        table(
            "Timings (seconds)", [(name, f"{seconds:,.3f}") for name, seconds in report["timings"].items()]
        ),
        *(f'<p class="note">{escape(note)}</p>' for note in page.notes),
    ]
    body = "\n".join(sections)
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>Orchard run {escape(report['run_id'])}</title><style>{STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def table(title: str, rows: list[tuple[Any, ...]], head: tuple[str, ...] = ()) -> str:
    header = "".join(f"<th>{escape(h)}</th>" for h in head)
    cells = "".join("<tr>" + "".join(cell(value) for value in row) + "</tr>" for row in rows)
    return f"<h2>{escape(title)}</h2><table>{f'<tr>{header}</tr>' if header else ''}{cells}</table>"


class Markup(str):
    """Text that is already HTML (built in this module from escaped parts)."""


def cell(value: Any) -> str:
    if isinstance(value, Markup):
        return f"<td>{value}</td>"
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="n">{value:,}</td>'
    return f"<td>{escape(str(value))}</td>"


def identity(text: str, holds: bool) -> str:
    mark = '<span class="ok">holds</span>' if holds else '<span class="bad">BROKEN</span>'
    return f"<li>{escape(text)}: {mark}</li>"


def counts_section(counts: dict[str, int]) -> str:
    rows = [(key, int(counts[key])) for key in COUNT_KEYS]
    listed, in_pca, rejected = counts["listed"], counts["in_pca"], counts["rejected"]
    computed = counts["featurized_this_run"] + counts["reused_from_cache"]
    identities = identity(
        f"listed {listed:,} = in_pca {in_pca:,} + rejected {rejected:,}", listed == in_pca + rejected
    ) + identity(
        f"featurized_this_run + reused_from_cache = {computed:,} = in_pca {in_pca:,} (decode failures are "
        "rejects, not featurized)",
        computed == in_pca,
    )
    return table("Counts", rows, ("count", "images")) + f"<ul>{identities}</ul>"


def labels_section(page: PageData) -> str:
    agreement = page.agreement.by_label if page.agreement else {}
    labels = sorted(
        set(page.images_by_label) | set(page.rejects.by_label), key=lambda name: (name == "", name)
    )
    rows = []
    for label in labels:
        queries, share = agreement.get(label, (0, None))
        knn = f"{share:.1%} of {queries:,}" if share is not None else "-"
        thumbs = "".join(thumbnail_markup(t) for t in page.thumbnails.get(label, []))
        name = label or "(no label folder)"
        rows.append((name, page.images_by_label.get(label, 0), page.rejects.by_label.get(label, 0), knn,
                     Markup(thumbs)))  # fmt: skip
    head = ("label", "images in PCA", "rejected", "5-NN agreement", "sample of accepted images")
    return table(f"Labels ({len(labels):,})", rows, head)


def thumbnail_markup(thumb: Thumbnail) -> str:
    if thumb.data_uri is None:
        return f'<span class="dim" title="{escape(thumb.path)}">(no longer decodes)</span>'
    return (
        f'<img class="thumb" src="{thumb.data_uri}" alt="{escape(thumb.path)}" title="{escape(thumb.path)}">'
    )


def quality_section(agreement: Agreement | None, weights: dict[str, Any]) -> str:
    title = "<h2>Feature quality: leave-one-out 5-nearest-neighbour label agreement</h2>"
    if agreement is None:
        return title + '<p class="note">Too few images or no components: no neighbour to vote.</p>'
    random = bool(weights.get("random")) or weights.get("kind") == "random"
    why = (
        "These features come from <b>random weights</b> (a seeded, untrained MobileNetV2): the network "
        "has learned nothing, so its features mostly reflect colour and brightness, and neighbours agree "
        "far less often than with trained (ImageNet) weights, whose features separate shapes and textures."
        if random
        else "Trained weights: neighbours in PCA space tend to share a label; a label with low agreement "
        "is easily confused with others, or holds mixed images."
    )
    return title + (
        f"<p><b>{agreement.agreement:.1%}</b> of {agreement.queries:,} query images (a seeded sample of "
        f"at most 5,000, against all {agreement.rows:,} rows) get their own label from the majority vote "
        f"of their {agreement.neighbours} nearest other images (Euclidean distance in <code>pca</code>). "
        f"Always guessing the most common label would agree {agreement.majority_share:.1%} of the time. "
        "Per label: the table above.</p>"
        f'<p class="note">{why} Ties: equal distances go to the lower row index, equal votes to the label '
        "whose nearest member is nearest.</p>"
    )


def plots_section(page: PageData) -> str:
    scree = f'<img class="plot" id="scree" src="{page.scree_uri}" alt="PCA scree plot">'
    if page.scatter_uri is None:
        scatter = '<p class="note">No PC1 x PC2 scatter: the PCA has fewer than two components.</p>'
    else:
        scatter = f'<img class="plot" id="scatter" src="{page.scatter_uri}" alt="PC1 x PC2 scatter by label">'
    return f"<h2>PCA</h2>{scree}<br>{scatter}"


def rejects_section(rejects: RejectSummary) -> str:
    if not rejects.total:
        return "<h2>Rejects</h2><p>None.</p>"
    by_reason = table(f"Rejects ({rejects.total:,}) by reason", rejects.by_reason, ("reason", "files"))
    listed = table(
        f"Rejects: the first {len(rejects.listed):,} by path",
        [(path, label or "-", reason) for path, label, reason in rejects.listed],
        ("path", "label", "reason"),
    )
    more = rejects.total - len(rejects.listed)
    tail = f'<p class="note">... and {more:,} more: query <code>rejects_history</code>.</p>' if more else ""
    return by_reason + listed + tail


def model_section(report: dict[str, Any]) -> str:
    weights = ", ".join(f"{k} {v}" for k, v in report.get("weights", {}).items())
    target = report.get("variance_target")
    cumulative = report.get("cumulative_variance") or [0.0]
    goal = f"variance target {target:.0%}" if target else "fixed"
    rows: list[tuple[Any, ...]] = [
        ("model id", report.get("model_id", "-")),
        ("weights", weights or "-"),
        ("image size, runtime", f"{report.get('image_size')} px, {report.get('runtime')}"),
        ("k", f"{report['k']} ({goal}), explains {cumulative[-1]:.2%}"),
        ("versions", ", ".join(f"{k} {v}" for k, v in report.get("versions", {}).items())),
    ]
    basis = report.get("basis")
    if isinstance(basis, dict):
        rows += [(f"basis: {key}", "-" if value is None else str(value)) for key, value in basis.items()]
    return table("Model, basis and weights", rows)
