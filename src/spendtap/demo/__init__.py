"""`spendtap demo`: the whole product end to end on loopback."""
