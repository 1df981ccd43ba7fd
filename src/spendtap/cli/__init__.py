"""The `spendtap` command line."""
