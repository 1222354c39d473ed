"""The claims page ("What the evidence says") types no number: every value is glued."""

from __future__ import annotations

import re
from pathlib import Path

import jupytext

from hrcam.book import chapters

REPO = Path(__file__).resolve().parents[2]
PAGE = REPO / "notebooks" / "13_claims.py"

# Roles ({glue:text}`key:.3f`, {doc}`07_evidence`), inline code, section signs (§5) and links
# may contain digits; nothing else in the prose may.
_ALLOWED = [
    re.compile(r"\{[a-z:]+\}`[^`]*`"),
    re.compile(r"`[^`]*`"),
    re.compile(r"§\d+(\.\d+)*"),
    re.compile(r"https?://\S+|github\.com/\S+"),
]


def _prose(text: str) -> str:
    for pattern in _ALLOWED:
        text = pattern.sub(" ", text)
    return text


def test_claims_page_holds_no_hard_coded_numbers():
    nb = jupytext.read(PAGE)
    markdown = [c.source for c in nb.cells if c.cell_type == "markdown"]
    assert markdown, "the claims page has no prose"
    for source in markdown:
        digits = re.findall(r"[^\n]*\d[^\n]*", _prose(source))
        assert not digits, f"typed numbers on the claims page: {digits}"
    # ...and it does cite numbers: many glue roles
    roles = re.findall(r"\{glue:(?:text|md)\}`([^`:]+)", "\n".join(markdown))
    assert len(set(roles)) > 30


def test_prose_filter_catches_numbers():
    assert re.search(r"\d", _prose("PxAP 0.82 {glue:text}`x:.3f`"))
    assert not re.search(r"\d", _prose("see {doc}`07_evidence` and §5, {glue:text}`k:.1%`"))


def test_every_claim_links_its_section():
    text = "\n".join(c.source for c in jupytext.read(PAGE).cells if c.cell_type == "markdown")
    claims = [p for p in text.split("\n\n") if p.startswith("**")]
    assert len(claims) >= 6
    for claim in claims:
        if "Not shown" in claim:
            continue
        assert "{doc}`" in claim, claim[:80]


def test_claims_page_is_last_and_in_the_toc():
    assert chapters.NOTEBOOKS[-1] == "13_claims"
    toc = (REPO / "_toc.yml").read_text()
    assert "notebooks/13_claims" in toc and "notebooks/07_evidence" in toc


def _values(**signs):
    """Claim values whose CIs have the given signs (+1 above 0, -1 below, 0 across)."""
    out = {}
    for key in ("refined_paper_diff", "refined_reference_diff", "exp_image_paper",
                "exp_image_reference", "oracle_paper_diff", "oracle_reference_diff",
                "noise_paper_diff", "noise_reference_diff"):  # fmt: skip
        s = signs.get(key, 0)
        out[f"{key}_lo"], out[f"{key}_hi"] = {1: (0.01, 0.03), -1: (-0.03, -0.01)}.get(
            s, (-0.01, 0.01)
        )
    return out


def test_conclusion_follows_the_intervals():
    from hrcam.studies.claims import conclusion

    text = conclusion(_values(refined_paper_diff=-1, noise_paper_diff=-1))
    assert "worse with the `paper` preset" in text
    assert "not measurably different with the `reference` preset" in text
    assert "does no better than the image" in text
    assert "post-processing itself" in text and "holds only partly" in text
    text = conclusion(_values(oracle_reference_diff=1, exp_image_paper=1))
    assert "does beat the low-res CAM (`reference`)" in text
    assert "beats the image's luminance" in text and "robustness claim holds" in text


def _with_means(values):
    for key in [k[:-3] for k in values if k.endswith("_lo")]:
        values[key] = (values[f"{key}_lo"] + values[f"{key}_hi"]) / 2
    return values


def test_two_columns_answer_each_claim_on_both_data_sets():
    from hrcam.studies.claims import _TWO_COLUMN_ROWS, any_cnn_text, two_column_table

    synthetic = _with_means({f"{s}{x}": v for _, s, _ in _TWO_COLUMN_ROWS
                             for x, v in (("_lo", -0.03), ("_hi", -0.01))})  # fmt: skip
    synthetic["arch"] = "densenet_compact"
    synthetic["n_images"] = 200
    real = _with_means({f"{c}{x}": v for _, _, c in _TWO_COLUMN_ROWS
                        for x, v in (("_lo", 0.01), ("_hi", 0.05))})  # fmt: skip
    real |= {"cut_images": 48, "cut_stamps": 26}
    table = two_column_table(synthetic, real)
    assert (
        "(200 independent images)" in table and "(48 images of 26 stamps; CIs over stamps)" in table
    )
    rows = table.splitlines()[2:]
    assert len(rows) == len(_TWO_COLUMN_ROWS)
    refined = next(r for r in rows if "refined − low-res PxAP, `paper`" in r)
    assert "-0.020 [-0.030, -0.010] (worse)" in refined
    assert "+0.030 [+0.010, +0.050] (better)" in refined
    # Without the real chapter its column says so, and the any-CNN claim is not shown.
    assert two_column_table(synthetic, None).count("not measured") == len(_TWO_COLUMN_ROWS)
    assert any_cnn_text(synthetic, None).startswith("Not shown")
    real |= {"cut_images": 64, "cut_top1": 0.5}
    assert "better (`paper`)" in any_cnn_text(synthetic, real)
    # From fewer than 10 stamps no verdict is printed, only the numbers.
    few = {**real, "cut_stamps": 6}
    assert "too few to judge (`paper`)" in any_cnn_text(synthetic, few)
    refined = next(r for r in two_column_table(synthetic, few).splitlines()
                   if "refined − low-res PxAP, `paper`" in r)  # fmt: skip
    assert "+0.030 [+0.010, +0.050] (too few to judge)" in refined


def test_the_claims_page_names_the_front():
    from hrcam.studies.claims import front_text

    cut = {"front": ["low_res_cam", "cam_jbu"], "cut_low_res_cam_pxap": 0.372,
           "cut_cam_jbu_pxap": 0.446}  # fmt: skip
    text = front_text(cut)
    assert "Low-res CAM (bilinear) (PxAP 0.372)" in text and "(PxAP 0.446)" in text
    assert text.index("0.372") < text.index("0.446")  # cheapest first, as the front lists them
    assert front_text(None).startswith("The real cut-out chapter did not run")
