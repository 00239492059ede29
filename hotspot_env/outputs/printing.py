"""Printable sheets as PDF: the work orders a crew takes out, one district per page.

The HTML sheet (:func:`hotspot_env.interventions.workorders.workorders_html`)
carries its own print stylesheet: a district starts a new page, rows and maps
never split, the table header repeats. :func:`pdf` lays it out with WeasyPrint
(HTML + CSS paged media, no browser needed) on A4 or US Letter; everything is
inside the HTML (maps are embedded PNGs), so nothing is fetched.
"""

from __future__ import annotations

#: Paper sizes offered, as CSS ``@page size`` values (landscape: the table is wide).
PAPER: dict[str, str] = {"A4": "A4 landscape", "Letter": "letter landscape"}


def paper_css(paper: str = "A4") -> str:
    """Print rules for ``paper`` (``"A4"`` or ``"Letter"``): page size, 12 mm margins."""
    if paper not in PAPER:
        raise ValueError(f"paper must be one of {', '.join(PAPER)}, not {paper!r}")
    # A district's map is capped so its table starts on the same page.
    return (f"@page {{ size: {PAPER[paper]}; margin: 12mm; }}"
            "section.district img { max-height: 92mm; width: auto; max-width: 100%; }")


def pdf(html: str | bytes, paper: str = "A4") -> bytes:
    """The sheet ``html`` as PDF bytes on ``paper`` (print media rules apply).

    Parameters
    ----------
    html : str or bytes
        A complete HTML document (UTF-8 when bytes).
    paper : {"A4", "Letter"}

    Returns
    -------
    bytes
        A PDF document.
    """
    from weasyprint import HTML

    text = html.decode("utf-8") if isinstance(html, bytes) else html
    # The reader's paper, as the document's last style: later author rules win
    # over the sheet's own @page (a user stylesheet would not).
    rules = f"<style>{paper_css(paper)}</style>"
    text = text.replace("</head>", rules + "</head>", 1) if "</head>" in text else rules + text
    return HTML(string=text, base_url=None, media_type="print").write_pdf()
