"""Tests of `cohost train`; helpers the end-to-end test shares."""

from __future__ import annotations

import importlib.util
import os

import pytest

from cohost.train.lora import INSTALL_HINT, TRAIN_MODULES

# peft 0.21 reads transformers 5.23's deprecated `is_gradient_checkpointing` (a library-to-library
# deprecation that cohost cannot reach); nothing else is let through.
PEFT_DEPRECATION = "ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"


def require_train_extra() -> None:
    """Skip (fail under CI=true) unless the train extra is installed."""
    missing = [name for name in TRAIN_MODULES if importlib.util.find_spec(name) is None]
    if not missing:
        return
    reason = f"the train extra is missing ({', '.join(missing)}): {INSTALL_HINT}"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"CI must run the training tests: {reason}")
    pytest.skip(reason)
