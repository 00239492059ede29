"""After the work is done: the done-ledger, did-it-work estimates, the public performance report."""
