"""The rendered-book check finds each defect a reader met, and passes a page that reads right."""

from __future__ import annotations

import pytest

GOOD = """The refined CAM reaches PxAP 0.812 [0.790, 0.833] on 200 images.
Train one with hrcam train upsampler --classifier CKPT --data DIR (Figs. 2–4).
Refined minus low-res — on the same images — is +0.010 [-0.004, +0.021].
From 1 image: 0.290 (no interval). Pointing game 1.000 [1.000, 1.000], 0.0 [0.0, 0.0].
jupytext --to ipynb -o - x.py | papermill - out.ipynb"""


def test_a_page_that_reads_right_has_no_defect(page_defects):
    assert page_defects(GOOD, ["/home/builder", "/tmp/pytest-of-me"]) == []


@pytest.mark.parametrize(
    ("text", "kind"),
    [
        ("| Claim (PxAP, 95% CI) | Synthetic scenes | Real animal cut-outs | |—|—|—|", "table"),
        ("a table\n| a | b |\nafter", "table"),
        ("hrcam train upsampler –classifier CKPT –data DIR", "mangled option"),
        ("run it with —force", "mangled option"),
        ("UpsamplerInputs(data='x', store=PosixPath('runs/demo'))", "python repr"),
        ("{'profile': 'demo', 'seed': 0}", "python repr"),
        ("written to /home/builder/hrcam/runs/demo/claims", "machine path"),
        ("SESS, raw 0.290 [0.290, 0.290]", "interval from one image"),
        ("difference -0.003 [-0.003, -0.003]", "interval from one image"),
    ],
)
def test_each_defect_is_found(page_defects, text, kind):
    found = page_defects(text, ["/home/builder"])
    assert found and all(f.startswith(kind) for f in found), found


def test_code_of_a_cell_is_not_a_defect_but_its_output_is(page_text):
    dom = (
        '<div class="cell_input docutils container"><div class="highlight"><pre>'
        'Markdown("| a | b |\\n|---|---|")</pre></div></div>'
        '<div class="cell_output docutils container"><pre>{&#39;a&#39;: 1}</pre></div>'
    )
    text = page_text(dom, skip_class="cell_input")
    assert "| a | b |" not in text and "{'a': 1}" in text
    assert "| a | b |" in page_text(dom)
