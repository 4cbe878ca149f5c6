"""The evaluation domain: known lenses, real anchors, and what a model's scores say of its completeness."""
