"""Work orders as PDF (``hotspot_env.outputs.printing``): paper sizes, one district per page.

PDFs are read back with pypdf, independently of WeasyPrint that wrote them.
"""

from __future__ import annotations

import io

import pypdf
import pytest

from hotspot_env.outputs import printing

#: Page sizes in PostScript points (1/72 inch), landscape.
A4 = (841.89, 595.28)
LETTER = (792.0, 612.0)


def _sheet(districts: dict[str, int]) -> str:
    """A sheet shaped like the work orders: a header, then one section per district."""
    from hotspot_env.interventions.workorders import _STYLE

    sections = []
    for name, rows in districts.items():
        body = "".join(f"<tr><td class='box'>&#9744;</td><td>{i}</td><td>Street light "
                       f"upgrade</td><td>{name} street {i}</td></tr>" for i in range(rows))
        sections.append(f"<section class='district'><h2>District {name}</h2>"
                        f"<table><thead><tr><th>Done</th><th>#</th><th>Type</th>"
                        f"<th>Location</th></tr></thead><tbody>{body}</tbody></table></section>")
    return (f"<!doctype html><html><head><meta charset='utf-8'><style>{_STYLE}</style></head>"
            f"<body><h1>Work orders</h1>{''.join(sections)}</body></html>")


def _pages(data: bytes) -> list[pypdf.PageObject]:
    assert data[:5] == b"%PDF-"
    return list(pypdf.PdfReader(io.BytesIO(data)).pages)


@pytest.mark.parametrize(("paper", "size"), [("A4", A4), ("Letter", LETTER)])
def test_paper_size(paper, size):
    pages = _pages(printing.pdf(_sheet({"D01": 2}), paper))
    box = pages[0].mediabox
    assert float(box.width) == pytest.approx(size[0], abs=0.5)
    assert float(box.height) == pytest.approx(size[1], abs=0.5)


def test_each_district_starts_its_own_page():
    pages = _pages(printing.pdf(_sheet({"D01": 3, "D02": 1, "D03": 40})))
    texts = [p.extract_text() for p in pages]
    starts = {name: next(i for i, t in enumerate(texts) if f"District {name}" in t)
              for name in ("D01", "D02", "D03")}
    assert starts["D01"] < starts["D02"] < starts["D03"]
    for name, page in starts.items():
        assert texts[page].count("District ") == 1, (name, texts[page][:200])
    # a long district runs over pages, its table header repeated on each
    assert len(texts) > starts["D03"] + 1
    assert all("Location" in t for t in texts[starts["D03"]:])
    # one box per row to tick, nothing else
    assert sum(t.count("☐") for t in texts) == 3 + 1 + 40


def test_unknown_paper_is_refused():
    with pytest.raises(ValueError, match="A4, Letter"):
        printing.paper_css("A3")
