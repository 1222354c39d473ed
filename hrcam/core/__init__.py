"""Rules every layer of hrcam shares, each in the module named after what it does.

``maps``
    Min-max normalising, the map validator and the class-index check.
``tables``
    Rows of result tables: finding one, its CI copied out and printed, JSON-safe values.

Nothing here imports another hrcam package: the data, the models, the post-processing, the
methods, the metrics, the evaluation and the studies all import it from below.
"""
