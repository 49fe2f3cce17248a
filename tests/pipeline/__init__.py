"""Tests of the pipeline stages."""
