"""``python -m hotspot_env`` runs the CLI."""

from hotspot_env.cli import main

main()
