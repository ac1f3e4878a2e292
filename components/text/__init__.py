"""Text encoders shared by the text featurizer and the benchmarks."""
