"""The logs the dataset tests share (see tests/support/rule_log.py)."""

from tests.support.rule_log import rule_log

__all__ = ["rule_log"]
