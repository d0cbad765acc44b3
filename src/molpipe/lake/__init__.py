"""molpipe's Delta tables: their specs, reads and writes (:mod:`.tables`), and their maintenance (:mod:`.maintain`)."""
