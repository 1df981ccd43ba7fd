"""Capture: where calls enter spendtap (the proxy addon, HAR files)."""
