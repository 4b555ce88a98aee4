"""``python -m rest_trigger_local``: ``make run`` (launcher.py)."""

from rest_trigger_local.launcher import main

main()
