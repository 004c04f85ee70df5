"""Features: pure polars formulas by group, named sets, and the one FeaturePipeline.

`FeaturePipeline.from_spec(config.features)` gives the pipeline a run trains with;
`FeaturePipeline.from_metadata(model_meta)` gives the same one back for live inference.
"""

from raytrade.features.groups import FEATURES, SETS, Feature
from raytrade.features.pipeline import PIPELINE_VERSION, FeaturePipeline

__all__ = ["FEATURES", "PIPELINE_VERSION", "SETS", "Feature", "FeaturePipeline"]
