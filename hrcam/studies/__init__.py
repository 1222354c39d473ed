"""The book's experiments, one module per study.

Each study runs :mod:`hrcam.methods` and :mod:`hrcam.evaluate` on controlled inputs and
returns what a chapter shows.

>>> from hrcam import methods, studies
>>> cams = methods.compute_cams(model, StoreDataset(root, "val"), limit=200)  # doctest: +SKIP
>>> study = studies.refine_study(cams, sources=studies.SOURCES)  # doctest: +SKIP

One module per study:

``sources``
    The high-res maps the post-processing can be fed (expansion network, image, noise, the
    oracle made from the mask) and more held-out images.
``refine``
    The refine study (:func:`refine_study`): every source and post-processing setting scored
    against the low-res CAM on the same images; :func:`verdict` and :func:`paired_between`.
``ablation``
    The high-res-source ablation from a model (:func:`evaluate_sources`, the CLI's
    ``--sources``) and the oracle-noise sweep.
``failures``
    Where a refined map goes wrong: stage by stage, per failure kind, the §5 subsets.
``variants``
    Training runs: the classifier left alone by expansion training, synthetic data variants.
``precision``
    What a bfloat16 expansion network changes in the maps (:func:`precision_effect`).
``comparison``
    Every method side by side with the consistency-trained network (notebook 09).
``upsamplers``
    The paper's expansion network against a learned JBU, joint bilateral upsampling, the
    guided and joint bilateral filters and SESS, raw and post-processed, on the same frozen
    classifier (notebook 11).
``bilateral``
    Joint bilateral upsampling (``cam_jbu``) against OpenCV's joint bilateral filter and the
    guided filter on the same images (notebook 10).
``claims``
    The paper's claims against what the notebooks measured (notebook 10).

The CAM sets the studies share (:class:`CamSet`, :func:`compute_cams`) live in
:mod:`hrcam.methods.camset` (import them from :mod:`hrcam.methods`). Nothing below
``hrcam.studies`` (the evaluation, the methods, training) imports it. A new study is one
module here plus its test (and its notebook).
"""

import lazy_loader

from hrcam.core.exports import public_names

# Names load from their submodule on first use (scikit-image's lazy_loader), so that importing
# the package imports none of its modules.
__getattr__, __dir__, __all__ = lazy_loader.attach(
    __name__,
    submod_attrs=public_names(
        __file__, ["ablation", "failures", "precision", "refine", "sources", "variants"]
    ),
)
