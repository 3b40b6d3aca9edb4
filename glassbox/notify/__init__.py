"""Notifications (SPEC §8): what is due (:mod:`.due`), its words (:mod:`.messages`), delivery through
Apprise (:mod:`.deliver`) and the ledger of what was sent (:mod:`.ledger`), driven by :mod:`.run`."""
