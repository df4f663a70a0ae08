"""Feature synthesis: cheap tabular transforms, tsfresh over time series, featuretools DFS over related tables.

Each synthesiser is a scikit-learn transformer that ends up inside ``best_pipeline_``.
"""
