"""Tests of the training-data builders."""
