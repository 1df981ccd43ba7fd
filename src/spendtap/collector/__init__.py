"""The collector: proxy capture, context, price and spool on the laptop."""
